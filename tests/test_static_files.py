"""/static: files served from memory, gzipped for browsers that accept it, revalidated by ETag."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from hub.routes.pages import STATIC_DIR, RevalidatedStatic


@pytest.fixture
def static(tmp_path: Path) -> Path:
    (tmp_path / "js").mkdir()
    (tmp_path / "vendor").mkdir()
    (tmp_path / "js" / "page.js").write_text("export const greeting = '你好';\n" * 200, encoding="utf-8")
    (tmp_path / "js" / "tiny.js").write_text("export {};\n", encoding="utf-8")
    (tmp_path / "vendor" / "lib-1.0.0.js").write_text("window.lib = 1;\n" * 200, encoding="utf-8")
    (tmp_path / "vendor" / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    return tmp_path


def client(directory: Path) -> httpx.AsyncClient:
    app = Starlette(routes=[Mount("/static", RevalidatedStatic(directory=directory))])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")


async def test_a_script_is_sent_gzipped_to_a_browser_that_accepts_it_and_whole_to_others(static: Path) -> None:
    source = (static / "js" / "page.js").read_bytes()
    async with client(static) as http:
        zipped = await http.get("/static/js/page.js", headers={"Accept-Encoding": "gzip, deflate, br"})
        plain = await http.get("/static/js/page.js", headers={"Accept-Encoding": "identity"})
    assert zipped.status_code == plain.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == source  # httpx decodes it: the same bytes
    assert int(zipped.headers["content-length"]) < len(source) / 5
    assert "content-encoding" not in plain.headers and plain.content == source
    assert zipped.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert zipped.headers["cache-control"] == "no-cache"


async def test_small_files_and_pictures_are_sent_as_they_are(static: Path) -> None:
    async with client(static) as http:
        tiny = await http.get("/static/js/tiny.js", headers={"Accept-Encoding": "gzip"})
        png = await http.get("/static/vendor/picture.png", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in tiny.headers and tiny.text == "export {};\n"
    assert "content-encoding" not in png.headers and png.content == (static / "vendor" / "picture.png").read_bytes()
    assert png.headers["content-type"] == "image/png"


async def test_etag_revalidation_answers_304_and_a_changed_file_is_read_again(static: Path) -> None:
    path = static / "js" / "page.js"
    async with client(static) as http:
        first = await http.get("/static/js/page.js")
        etag = first.headers["etag"]
        again = await http.get("/static/js/page.js", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        path.write_text("export const greeting = 'changed';\n", encoding="utf-8")
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # a new release, a new mtime
        changed = await http.get("/static/js/page.js", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.text == "export const greeting = 'changed';\n"
    assert changed.headers["etag"] != etag


async def test_versioned_vendor_scripts_are_immutable(static: Path) -> None:
    async with client(static) as http:
        r = await http.get("/static/vendor/lib-1.0.0.js", headers={"Accept-Encoding": "gzip"})
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-encoding"] == "gzip" and r.content == (static / "vendor" / "lib-1.0.0.js").read_bytes()


async def test_head_missing_traversal_and_other_methods(static: Path) -> None:
    async with client(static) as http:
        head = await http.head("/static/js/page.js", headers={"Accept-Encoding": "gzip"})
        missing = await http.get("/static/js/nothing.js")
        traversal = await http.get("/static/..%2F..%2Fetc%2Fpasswd")
        post = await http.post("/static/js/page.js")
    assert head.status_code == 200 and head.content == b""
    assert missing.status_code == 404 and traversal.status_code == 404
    assert post.status_code == 405


async def test_the_big_screens_chart_library_is_gzipped_to_a_third() -> None:
    library = STATIC_DIR / "vendor" / "echarts-screens-5.6.0.min.js"
    async with client(STATIC_DIR) as http:
        r = await http.get("/static/vendor/echarts-screens-5.6.0.min.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.content == library.read_bytes()
    assert int(r.headers["content-length"]) < library.stat().st_size / 2.5


async def test_warm_reads_every_file_once_and_concurrent_first_requests_share_one_read(
    static: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = RevalidatedStatic(directory=static)
    assert await files.warm() == 4
    reads: list[str] = []
    load = RevalidatedStatic._load

    def counting_load(self: RevalidatedStatic, *args: object) -> object:
        reads.append(str(args[0]))
        return load(self, *args)

    monkeypatch.setattr(RevalidatedStatic, "_load", counting_load)
    app = Starlette(routes=[Mount("/static", files)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as http:
        warm = await asyncio.gather(*(http.get("/static/js/page.js") for _ in range(5)))
        assert reads == [] and all(r.status_code == 200 for r in warm)  # served from what warm() read
        path = static / "vendor" / "lib-1.0.0.js"
        stat = path.stat()
        path.write_text("window.lib = 2;\n" * 300, encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
        changed = await asyncio.gather(*(http.get("/static/vendor/lib-1.0.0.js") for _ in range(20)))
    assert len(reads) == 1, reads  # twenty browsers at once, one read and one compression
    assert all(r.text == "window.lib = 2;\n" * 300 for r in changed)


async def test_browsers_asking_for_favicon_ico_get_the_pages_icon() -> None:
    from fastapi import FastAPI

    from hub.routes import pages

    app = FastAPI()
    app.include_router(pages.router)
    app.mount("/static", RevalidatedStatic(directory=STATIC_DIR))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", follow_redirects=True) as http:
        r = await http.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml"), r.headers
    assert b"<svg" in r.content
