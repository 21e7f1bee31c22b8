"""/docs and /redoc work on a closed network: every asset they reference is served by the hub itself."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Api

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|(?:url|openapi_url|spec-url)\s*:\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_reference_only_local_assets_and_they_answer(api: Api, page: str) -> None:
    r = await api.client.get(page)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    assert "cdn." not in html and "googleapis" not in html and "fastapi.tiangolo.com" not in html, html
    urls = {a or b for a, b in REFERENCE.findall(html)}
    assert len(urls) >= 2, html
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} references {url}"
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
