"""Which basemap the pages draw under gridhub's own boundaries: none (offline), 天地图, 高德 or a custom server.

The pages read it from ``GET /api/v1/screens/map-config`` (``MapConfig``); with none configured they draw the
jurisdictions' GeoJSON alone and need no network beyond the hub. Tiles are fetched by the browser straight
from the provider (a 天地图 key is a browser key, restricted by the referring domain at 天地图's console).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from hub.settings import Settings

_TIANDITU = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)
_AMAP = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"


class TileLayer(BaseModel):
    url: str = Field(description="Leaflet URL template: {z}/{x}/{y}, {s} one of `subdomains`.")
    subdomains: str = ""
    max_zoom: int = 18


class MapConfig(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"tiles": "", "layers": [], "crs": "wgs84", "attribution": "", "dark": True},
                {
                    "tiles": "amap",
                    "layers": [{"url": _AMAP, "subdomains": "1234", "max_zoom": 18}],
                    "crs": "gcj02",
                    "attribution": "© 高德地图",
                    "dark": True,
                },
            ]
        }
    )
    tiles: Literal["", "tianditu", "amap", "custom"] = Field(description="Empty: offline, gridhub's GeoJSON only.")
    layers: list[TileLayer] = Field(description="Tile layers bottom to top (天地图: the map, then its labels).")
    crs: Literal["wgs84", "gcj02"] = Field(
        description="The datum of the tiles: gcj02 means gridhub's WGS-84 positions are shifted to draw on them, "
        "and a point picked on the map is shifted back before it is searched."
    )
    attribution: str
    dark: bool = Field(description="Invert a light street map to suit the dark screens.")


def map_config(settings: Settings) -> MapConfig:
    """The basemap the settings describe (``GRIDHUB_MAP_*``)."""
    dark = settings.map_tile_dark
    match settings.map_tiles:
        case "tianditu":
            key = quote(settings.map_tile_key.strip(), safe="")
            layers = [
                TileLayer(url=_TIANDITU.format(layer=layer, key=key), subdomains="01234567") for layer in ("vec", "cva")
            ]
            crs, attribution = settings.map_tile_crs or "wgs84", "© 天地图"
        case "amap":
            layers = [TileLayer(url=_AMAP, subdomains="1234")]
            crs, attribution = settings.map_tile_crs or "gcj02", "© 高德地图"
        case "custom":
            layers = [TileLayer(url=settings.map_tile_url.strip(), subdomains=settings.map_tile_subdomains)]
            crs, attribution = settings.map_tile_crs or "wgs84", settings.map_tile_attribution
        case _:
            return MapConfig(tiles="", layers=[], crs="wgs84", attribution="", dark=dark)
    return MapConfig(tiles=settings.map_tiles, layers=layers, crs=crs, attribution=attribution, dark=dark)
