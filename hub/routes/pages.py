"""The browser pages (screens/): HTML by route, never cached; static assets under /static.

The pages talk to gridhub only through the public API and /ws; this module just serves files.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

import screens

SCREENS_DIR = Path(screens.__file__).resolve().parent
PAGES_DIR = SCREENS_DIR / "pages"
STATIC_DIR = SCREENS_DIR / "static"

router = APIRouter(include_in_schema=False)


def page_names() -> list[str]:
    return sorted(p.stem for p in PAGES_DIR.glob("*.html"))


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/screens/overview", status_code=307)


@router.get("/screens/analytics")
async def analytics(request: Request, token: str | None = None) -> RedirectResponse:
    """统计分析 runs as its own Streamlit process (`gridhub analytics`): send the browser there."""
    target = request.app.state.settings.analytics_url
    return RedirectResponse(f"{target}?{urlencode({'token': token})}" if token else target, status_code=307)


@router.get("/screens/{name}")
async def page(name: str) -> FileResponse:
    if name not in page_names():
        raise HTTPException(status_code=404, detail=f"no page {name[:64]!r}; pages: {', '.join(page_names())}")
    return FileResponse(PAGES_DIR / f"{name}.html", headers={"Cache-Control": "no-cache"})


class RevalidatedStatic(StaticFiles):
    """Static files that browsers revalidate (ETag) on each load: a new release is never stale.
    Vendored libraries carry their version in the file name and are cached for a year."""

    async def get_response(self, path: str, scope: Scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        immutable = path.startswith("vendor/") and path.endswith(".js")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return response


def static_files() -> StaticFiles:
    return RevalidatedStatic(directory=STATIC_DIR)
