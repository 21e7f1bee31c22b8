"""The basemap setting (GRIDHUB_MAP_TILES …) and GET /api/v1/screens/map-config: offline by default, 天地图,
高德 or a custom tile server with the datum its tiles are drawn in (issue 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.maptiles import map_config
from hub.settings import Settings
from tests.conftest import Api


def settings(tmp_path: Path, **fields: Any) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="k" * 40, **fields)


async def test_offline_by_default(api: Api) -> None:
    r = await api.get("t1_worker", "/api/v1/screens/map-config")
    assert r.status_code == 200, r.text
    assert r.json() == {"tiles": "", "layers": [], "crs": "wgs84", "attribution": "", "dark": True}
    assert (await api.client.get("/api/v1/screens/map-config")).status_code == 401


def test_tianditu_is_drawn_in_wgs84_with_its_labels(tmp_path: Path) -> None:
    config = map_config(settings(tmp_path, map_tiles="tianditu", map_tile_key="ab&c"))
    assert config.crs == "wgs84" and config.attribution == "© 天地图"
    vec, labels = config.layers
    assert "/vec_w/wmts?" in vec.url and "/cva_w/wmts?" in labels.url and vec.subdomains == "01234567"
    assert vec.url.endswith("&tk=ab%26c") and "TILEMATRIX={z}&TILEROW={y}&TILECOL={x}" in vec.url


def test_amap_is_gcj02_and_custom_follows_the_setting(tmp_path: Path) -> None:
    amap = map_config(settings(tmp_path, map_tiles="amap"))
    assert amap.crs == "gcj02" and "{x}" in amap.layers[0].url and amap.layers[0].subdomains == "1234"
    url = "http://10.0.0.9/tiles/{z}/{x}/{y}.png"
    custom = map_config(settings(tmp_path, map_tiles="custom", map_tile_url=url))
    assert custom.crs == "wgs84" and custom.layers[0].url == url
    shifted = map_config(settings(tmp_path, map_tiles="custom", map_tile_url=url, map_tile_crs="gcj02"))
    assert shifted.crs == "gcj02"


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"map_tiles": "tianditu"}, "MAP_TILE_KEY"),
        ({"map_tiles": "custom"}, "must start with"),
        ({"map_tiles": "custom", "map_tile_url": "ftp://x/{z}/{x}/{y}"}, "must start with"),
        ({"map_tiles": "custom", "map_tile_url": "http://x/{z}/{x}.png"}, "lacks {y}"),
        ({"map_tiles": "custom", "map_tile_url": "http://{s}.x/{z}/{x}/{y}.png"}, "SUBDOMAINS"),
        ({"map_tiles": "google"}, "map_tiles"),
        ({"map_tile_crs": "bd09"}, "map_tile_crs"),
    ],
)
def test_an_incomplete_basemap_is_refused_at_start(tmp_path: Path, fields: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        settings(tmp_path, **fields)
