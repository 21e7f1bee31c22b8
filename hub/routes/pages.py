"""The browser pages (screens/): HTML by route, never cached; static assets under /static.

The pages talk to gridhub only through the public API and /ws; this module just serves files.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import stat
from dataclasses import dataclass
from email.utils import formatdate
from mimetypes import guess_type
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import NotModifiedResponse
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


@router.get("/favicon.ico")
async def favicon() -> RedirectResponse:
    """Browsers ask for it on every page they show; the pages name /static/favicon.svg."""
    return RedirectResponse("/static/favicon.svg", status_code=308)


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


#: Static files kept in memory at most this large (the chart library is ~0.7 MB); larger ones are streamed.
CACHED_MAX_BYTES = 4 * 1024 * 1024
#: What is sent gzipped to a browser that accepts it (images are compressed already).
COMPRESSIBLE = {".js", ".mjs", ".css", ".html", ".svg", ".json", ".txt", ".map"}


@dataclass(frozen=True)
class CachedFile:
    version: tuple[int, int]  # (mtime_ns, size): a file changed on disk is read again
    body: bytes
    gzipped: bytes | None
    headers: dict[str, str]
    media_type: str


#: Every file read, by path: one per process, shared by every app of it (the same files on disk).
_FILES: dict[str, CachedFile] = {}


class RevalidatedStatic(StaticFiles):
    """Static files that browsers revalidate (ETag) on each load: a new release is never stale.
    Vendored libraries carry their version in the file name and are cached for a year.

    Files are held in memory, gzipped once, and sent in one piece: a page's first load asks for a dozen at
    once, and the responder's page comes over 4G (the chart library is ~220 KB gzipped instead of ~670 KB)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._files = _FILES
        self._loading: dict[str, asyncio.Future[CachedFile]] = {}  # one read per file, however many ask at once

    async def warm(self) -> int:
        """Read and gzip every file now (at the hub's start): the walls reconnecting after a restart then find
        them ready, instead of all waiting on the first reads. The number of files kept."""
        return await anyio.to_thread.run_sync(self._warm_all)

    def _warm_all(self) -> int:
        kept = 0
        for directory in self.all_directories:
            for path in Path(os.path.realpath(directory)).rglob("*"):
                found = path.stat()
                if not stat.S_ISREG(found.st_mode) or found.st_size > CACHED_MAX_BYTES:
                    continue
                if self._kept(str(path), found) is None:
                    self._files[str(path)] = self._load(str(path), found)
                kept += 1
        return kept

    def _kept(self, full_path: str, found: os.stat_result) -> CachedFile | None:
        """The file as read before, if it has not changed on disk since."""
        cached = self._files.get(full_path)
        return cached if cached is not None and cached.version == (found.st_mtime_ns, found.st_size) else None

    def _load(self, full_path: str, found: os.stat_result) -> CachedFile:
        body = Path(full_path).read_bytes()
        compressible = Path(full_path).suffix in COMPRESSIBLE and len(body) > 1024
        mtime = found.st_mtime
        etag = hashlib.md5(f"{mtime}-{len(body)}".encode(), usedforsecurity=False).hexdigest()
        return CachedFile(
            version=(found.st_mtime_ns, found.st_size),
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0) if compressible else None,
            headers={"etag": f'"{etag}"', "last-modified": formatdate(mtime, usegmt=True)},
            media_type=guess_type(full_path)[0] or "text/plain",
        )

    async def _load_and_keep(self, full_path: str, found: os.stat_result) -> CachedFile:
        """Read the file and keep it before the read counts as done: a request that looks the moment after the
        read finishes finds it kept (it stored after its await before, and a request in between read again)."""
        cached = await anyio.to_thread.run_sync(self._load, full_path, found)
        self._files[full_path] = cached
        return cached

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await self._cached_response(path, scope) or await super().get_response(path, scope)
        immutable = path.startswith("vendor/") and path.endswith(".js")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return response

    async def _cached_response(self, path: str, scope: Scope) -> Response | None:
        """The file from memory, or None for what StaticFiles answers itself (errors, folders, large files)."""
        if scope["method"] not in ("GET", "HEAD"):
            return None
        try:
            full_path, found = await anyio.to_thread.run_sync(self.lookup_path, path)
        except (OSError, ValueError):
            return None
        if not found or not stat.S_ISREG(found.st_mode) or found.st_size > CACHED_MAX_BYTES:
            return None
        cached = self._kept(full_path, found)
        if cached is None:
            loading = self._loading.get(full_path)
            if loading is None:
                loading = asyncio.ensure_future(self._load_and_keep(full_path, found))
                self._loading[full_path] = loading
                loading.add_done_callback(lambda _: self._loading.pop(full_path, None))
            cached = await asyncio.shield(loading)
        request_headers = Headers(scope=scope)
        headers = dict(cached.headers)
        if cached.gzipped is not None:
            headers["vary"] = "Accept-Encoding"
        if self.is_not_modified(Headers(headers), request_headers):
            return NotModifiedResponse(Headers(headers))
        body = cached.body
        if cached.gzipped is not None and "gzip" in request_headers.get("accept-encoding", ""):
            body = cached.gzipped
            headers["content-encoding"] = "gzip"
        return Response(b"" if scope["method"] == "HEAD" else body, headers=headers, media_type=cached.media_type)


def static_files() -> RevalidatedStatic:
    return RevalidatedStatic(directory=STATIC_DIR)
