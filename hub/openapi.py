"""The OpenAPI document tells the whole truth (contract C8): every status code a route can answer.

Routes declare what is particular to them (``responses=errors(404, 409)``: not found, a business rule);
``document_common_errors(app)`` adds, after every router is included, what follows from how a route is
built, so no route can forget it:

* 401 where the route needs a bearer token (it depends on ``get_logged_in_user`` or ``get_media_user``);
* 403 where it depends on a role (``RequireRole``), or refuses an account that must change its password
  first (``get_current_user``, ``get_media_user``: ``password_change_required``);
* 404 where the path has a parameter (an unknown id, or one outside the caller's jurisdiction);
* 400 (not JSON) and 413 (body too large) where it takes a body;
* 422 where it takes any parameter or body.

Every error body is ``ErrorOut``: ``{"error": code, "message": text, …details}`` (see hub/errors.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from hub.deps import RequireRole, get_current_user, get_logged_in_user, get_media_user


class ErrorOut(BaseModel):
    """Every refusal: a stable code, a message for people, and details that depend on the code."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"error": "not_found", "message": "event 42 not found"}]},
    )
    error: str = Field(description="Stable machine-readable code, e.g. not_found, illegal_transition.")
    message: str = Field(description="What went wrong, for people.")


DESCRIPTIONS: dict[int, str] = {
    400: "The body is not valid JSON.",
    401: "Not logged in: the bearer token is missing, invalid, expired or revoked (`WWW-Authenticate: Bearer`).",
    403: "The account's role may not do this, or the account must change its password first "
    "(`password_change_required`).",
    404: "Unknown, or outside the caller's jurisdiction.",
    409: "Refused by a business rule of the current state (illegal step with `allowed`, stale `version` with "
    "`current_version`, or a duplicate).",
    413: "The request body is larger than the hub accepts.",
    422: "Invalid input: the fields at fault are listed in `errors`.",
    423: "The account is locked after too many failed logins.",
    429: "Too many requests: retry after `Retry-After` seconds.",
}


def errors(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes: ``errors(404, 409)``; ``errors(s409="why")`` overrides
    a description."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": ErrorOut, "description": DESCRIPTIONS[code]}
    for key, text in described.items():
        out[int(key.lstrip("s"))] = {"model": ErrorOut, "description": text}
    return out


def _calls(dependant: Dependant) -> list[Any]:
    found: list[Any] = []
    stack = [dependant]
    while stack:
        d = stack.pop()
        if d.call is not None:
            found.append(d.call)
        stack.extend(d.dependencies)
    return found


def implied_errors(route: APIRoute) -> list[int]:
    """The error codes that follow from how a route is built."""
    calls = _calls(route.dependant)
    codes: list[int] = []
    if get_logged_in_user in calls or get_media_user in calls:
        codes.append(401)
    if get_current_user in calls or get_media_user in calls or any(isinstance(c, RequireRole) for c in calls):
        codes.append(403)
    if route.dependant.path_params:
        codes.append(404)
    if route.body_field is not None:
        codes += [400, 413]
    d = route.dependant
    if route.body_field is not None or d.path_params or d.query_params or d.header_params or d.cookie_params:
        codes.append(422)
    return codes


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI includes them lazily)."""
    return [r for r in _leaf_routes(routes) if isinstance(r, APIRoute)]


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route answers at ``path`` (for the ``Allow`` header of a 405)."""
    methods: set[str] = set()
    for route in _leaf_routes(app.routes):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and getattr(route, "include_in_schema", True) and regex.match(path):
            methods |= set(route_methods)
    return sorted(methods)


def _leaf_routes(routes: list[Any]) -> list[Any]:
    found: list[Any] = []
    stack = list(routes)
    while stack:
        route = stack.pop()
        if not hasattr(route, "original_router"):
            found.append(route)
            continue
        stack.extend(route.original_router.routes)
    return found


def document_common_errors(app: FastAPI) -> None:
    """Add the implied error responses to every route (after all routers are included)."""
    for route in _api_routes(app.routes):
        if not route.include_in_schema:
            continue
        for code in implied_errors(route):
            existing = route.responses.get(code) or route.responses.get(str(code))
            if existing is None:
                route.responses[code] = {"model": ErrorOut, "description": DESCRIPTIONS[code]}
            elif "model" not in existing and "content" not in existing:
                existing["model"] = ErrorOut
        route.response_fields = {}  # rebuilt from route.responses below
        _rebuild_response_fields(route)
    app.openapi_schema = None


def _rebuild_response_fields(route: APIRoute) -> None:
    from fastapi.utils import create_model_field

    for code, response in route.responses.items():
        model = response.get("model") if isinstance(response, dict) else None
        if model is not None:
            route.response_fields[code] = create_model_field(
                name=f"Response_{code}_{route.unique_id}", type_=model, mode="serialization"
            )
