"""One JSON error shape for every refusal: ``{"error": code, "message": text, …details}``.

Domain errors map to 4xx; malformed requests to 422 (or 400 for a body that is not JSON); anything
unexpected is logged and answered 500 without leaking internals.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dispatch.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    StaleVersion,
)
from hub.auditing import record_refusal

log = logging.getLogger("gridhub.errors")

STATUS_OF: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    IllegalTransition: 409,
    StaleVersion: 409,
    Conflict: 409,
    InvalidInput: 422,
    AuthenticationFailed: 401,
}


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    return {"error": code, "message": message, **details}


def json_safe(value: Any) -> Any:
    """What a refusal echoes of the input, made encodable: NaN/Infinity as text, lone surrogates escaped."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


async def _record_denial(request: Request, message: str) -> None:
    """Every 403 is an ``access.denied`` audit row, against the user the request authenticated as."""
    user = getattr(request.state, "user", None)
    await record_refusal(request, kind="access.denied", user=user, detail={"method": request.method, "reason": message})


def _where(error: dict[str, Any]) -> str:
    """The field of one validation error, with the validator's own sentence where it wrote one."""
    where = ".".join(str(p) for p in error.get("loc", ()))
    if error.get("type") == "value_error":
        return f"{where}: {str(error.get('msg', '')).removeprefix('Value error, ')}"
    return where


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status = next((s for cls, s in STATUS_OF.items() if isinstance(exc, cls)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        body = json_safe(error_body(exc.code, exc.message, **exc.details))
        if status == 403:
            await _record_denial(request, exc.message)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = json_safe(jsonable_encoder(exc.errors(), custom_encoder={Exception: str}))
        not_json = any(e.get("type") == "json_invalid" for e in errors)
        if not_json:
            return JSONResponse(error_body("malformed_json", "the request body is not valid JSON"), status_code=400)
        fields = ", ".join(_where(e) for e in errors)
        return JSONResponse(
            error_body("validation_error", f"invalid request: {fields}", errors=errors), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 403:
            await _record_denial(request, str(exc.detail))
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            412: "precondition_failed",
            413: "payload_too_large",
            415: "unsupported_media_type",
            429: "rate_limited",
        }.get(exc.status_code, "http_error")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # every method of the path, not only those of the first route matched
            from hub.openapi import allowed_methods

            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request.app, request.url.path))}
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal error; it has been logged"), status_code=500)
