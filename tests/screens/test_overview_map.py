"""辖区地图 in a real browser (issue 9): 周边搜索 around a picked point on the offline map (ECharts over
gridhub's GeoJSON, the default) and on a tile basemap (Leaflet, GCJ-02 tiles from a tile server the test
runs on loopback). The pages may reach 127.0.0.1 only."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np
import pytest
from sqlalchemy import update

from dispatch.geo import haversine_m
from dispatch.models import User
from tests.screens.conftest import ARTIFACTS, Site, open_page, running_site, screenshot

#: The event everything is placed around (town 1, grid 330100001001002), WGS-84.
EVENT_AT = (30.0137, 120.0123)
CAMERA_AT = (30.0141, 120.0126)  # ~52 m north-east of the event
RESPONDER_AT = (30.0134, 120.0128)  # ~57 m south-east
SEARCH_AT = (30.0128, 120.0112)  # where the test clicks, ~150 m from the event (off every marker)
PHONE = "13800000002"


# --- the reference: GCJ-02 by the published formula (the one 高德 and gcoord implement) ---------------
_A, _EE = 6378245.0, 0.00669342162296594323


def _dlat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    return r + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0


def _dlon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    return r + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    dlat, dlon = _dlat(lon - 105.0, lat - 35.0), _dlon(lon - 105.0, lat - 35.0)
    rad = math.radians(lat)
    magic = 1 - _EE * math.sin(rad) ** 2
    dlat = dlat * 180.0 / (_A * (1 - _EE) / (magic * math.sqrt(magic)) * math.pi)
    dlon = dlon * 180.0 / (_A / math.sqrt(magic) * math.cos(rad) * math.pi)
    return lat + dlat, lon + dlon


def test_the_reference_formula_matches_a_published_pair() -> None:
    # WGS-84 (116.404, 39.915) → GCJ-02 (116.41024449916938, 39.91640428150164): the pair of wandergis'
    # coordtransform tests (and hutool's, which copy them).
    lat, lon = wgs84_to_gcj02(39.915, 116.404)
    assert (round(lat, 12), round(lon, 12)) == (round(39.91640428150164, 12), round(116.41024449916938, 12))


# --- a tile server on loopback -----------------------------------------------------------------------
def tile_png() -> bytes:
    """A light street-map-like tile (the page inverts it to suit the dark screen)."""
    tile = np.full((256, 256, 3), (233, 239, 242), np.uint8)
    for i in range(0, 256, 64):
        cv2.line(tile, (i + 20, 0), (i + 20, 255), (255, 255, 255), 6)
        cv2.line(tile, (0, i + 36), (255, i + 36), (255, 255, 255), 4)
    cv2.line(tile, (0, 200), (255, 120), (140, 214, 250), 9)  # a main road
    cv2.rectangle(tile, (90, 70), (140, 110), (205, 232, 208), -1)  # a park
    return cv2.imencode(".png", tile)[1].tobytes()


@dataclass
class TileServer:
    port: int
    requested: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def tiles() -> Iterator[TileServer]:
    png = tile_png()
    server_state = TileServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.requested.append(self.path)
            if not re.fullmatch(r"/tiles/\d+/\d+/\d+\.png", self.path):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
async def tiled_site(tmp_path_factory: pytest.TempPathFactory, tiles: TileServer) -> AsyncIterator[Site]:
    async with running_site(
        tmp_path_factory,
        map_tiles="custom",
        map_tile_url=f"http://127.0.0.1:{tiles.port}/tiles/{{z}}/{{x}}/{{y}}.png",
        map_tile_crs="gcj02",
        map_tile_attribution="测试瓦片",
    ) as site:
        yield site


# --- what the map shows --------------------------------------------------------------------------------
async def populate(site: Site) -> dict[str, Any]:
    """An event, cameras and a responder with a phone around EVENT_AT, plus a few events to fill the map."""
    event = await site.report("t1_dispatcher", title="幸福路井盖缺失", grid_code=None, lat=EVENT_AT[0], lon=EVENT_AT[1])
    for title, lat, lon, urgency in (
        ("人民路占道经营", 30.0062, 120.0071, "normal"),
        ("滨河公园垃圾堆放", 30.0251, 120.0142, "urgent"),
        ("东湖小区违章搭建", 30.0315, 120.0275, "normal"),
        ("学院路积水", 30.0088, 120.0312, "critical"),
    ):
        user = "t1_dispatcher" if lon < 120.02 else "t2_dispatcher"
        await site.report(user, title=title, grid_code=None, lat=lat, lon=lon, urgency=urgency)
    cameras = {}
    for name, (lat, lon) in (("幸福路口", CAMERA_AT), ("人民路与学院路口", (30.0071, 120.0093))):
        body = {"name": name, "lat": lat, "lon": lon}
        r = await site.http.post("/api/v1/cameras", json=body, headers=site.h("admin"))
        assert r.status_code == 201, r.text
        cameras[name] = r.json()["id"]
    async with site.app.state.session_factory() as session:
        await session.execute(
            update(User)
            .where(User.id == site.ids["t1_worker2"])
            .values(display_name="李明", phone=PHONE, lat=RESPONDER_AT[0], lon=RESPONDER_AT[1])
        )
        await session.commit()
    return {"event": event, "cameras": cameras}


def metres(text: str) -> float:
    """A distance as the panel writes it ("52 米", "1.2 公里") in metres."""
    value, unit = text.split()
    return float(value) * (1000 if unit == "公里" else 1)


async def panel_rows(page: Any) -> dict[str, list[dict[str, str]]]:
    await page.wait_for_selector("[data-tile=map] .nearby-panel[data-ready='1']", timeout=10000)
    return await page.eval_on_selector(
        "[data-tile=map] .nearby-panel",
        """panel => Object.fromEntries([...panel.querySelectorAll('section')].map((s) => [s.dataset.kind,
            [...s.querySelectorAll('li:not(.none)')].map((li) => ({
              name: li.querySelector('.name').textContent, d: li.querySelector('.d').textContent,
              phone: (li.querySelector('.phone') || {}).textContent || '', camera: li.dataset.camera || '' }))]))""",
    )


def check_found(rows: dict[str, list[dict[str, str]]], placed: dict[str, Any], searched: tuple[float, float]) -> None:
    cam = next(r for r in rows["cameras"] if r["name"] == "幸福路口")
    assert cam["camera"] == str(placed["cameras"]["幸福路口"])
    assert re.fullmatch(r"\d+ 米", cam["d"]), cam
    assert abs(metres(cam["d"]) - haversine_m(*searched, *CAMERA_AT)) <= 2, (cam, searched)
    person = next(r for r in rows["responders"] if r["name"] == "李明")
    assert person["phone"] == PHONE, "a dispatcher sees the phone"
    assert abs(metres(person["d"]) - haversine_m(*searched, *RESPONDER_AT)) <= 2, (person, searched)
    assert "幸福路井盖缺失" in [r["name"] for r in rows["events"]]


def nearby_requests(page: Any) -> list[tuple[float, float]]:
    """The (lat, lon) of every GET /api/v1/nearby the page sends."""
    points: list[tuple[float, float]] = []

    def seen(request: Any) -> None:
        url = urlsplit(request.url)
        if url.path == "/api/v1/nearby":
            q = parse_qs(url.query)
            points.append((float(q["lat"][0]), float(q["lon"][0])))

    page.on("request", seen)
    return points


async def test_the_offline_map_searches_around_a_clicked_point(browser: Any, site: Site) -> None:
    placed = await populate(site)
    refused: list[str] = []
    page = await open_page(browser, site, "county_dispatcher", "/screens/overview", refused=refused)
    sent = nearby_requests(page)
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    assert await page.evaluate("typeof window.L") == "undefined", "the offline map never loads Leaflet"
    assert await page.query_selector("[data-tile=map] .leaflet-container") is None
    chart = "echarts.getInstanceByDom(document.querySelector('[data-tile=map] .chart'))"
    await page.wait_for_function(f"{chart}.getOption().series[0].map")

    await page.click("[data-tile=map] [data-nearby]")
    x, y = await page.evaluate(
        f"""() => {{ const c = {chart}; const box = c.getDom().getBoundingClientRect();
            const [x, y] = c.convertToPixel({{ geoIndex: 0 }}, [{SEARCH_AT[1]}, {SEARCH_AT[0]}]);
            return [box.left + x, box.top + y]; }}"""
    )
    await page.mouse.click(x, y)
    rows = await panel_rows(page)
    assert len(sent) == 1 and haversine_m(*sent[0], *SEARCH_AT) < 30, sent  # WGS-84, to a pixel
    check_found(rows, placed, sent[0])
    series = await page.evaluate(f"{chart}.getOption().series.map((s) => s.name)")
    assert "搜索范围" in series and "搜索中心" in series, "the circle is drawn"
    # and round on the screen: 1 km north and 1 km east of its centre are as many pixels away from it
    north, east = await page.evaluate(
        f"""() => {{ const c = {chart}; const [lat, lon] = [{SEARCH_AT[0]}, {SEARCH_AT[1]}];
            const at = (p) => c.convertToPixel({{ geoIndex: 0 }}, p); const o = at([lon, lat]); const d = 1000 / 111320;
            const n = at([lon, lat + d]); const e = at([lon + d / Math.cos((lat * Math.PI) / 180), lat]);
            return [Math.hypot(n[0] - o[0], n[1] - o[1]), Math.hypot(e[0] - o[0], e[1] - o[1])]; }}"""
    )
    assert abs(north / east - 1) < 0.02, (north, east)
    await page.mouse.move(5, 5)  # no tooltip in the picture
    await page.wait_for_timeout(400)
    await screenshot_tile(page, "overview-nearby-offline")

    await page.select_option("[data-tile=map] .nearby-panel select[name=radius]", "2000")
    await page.wait_for_selector("[data-tile=map] .nearby-panel[data-ready='1']")
    assert "2 公里" in await page.text_content("[data-tile=map] .nearby-panel header")

    await page.click("[data-tile=map] .nearby-panel [data-close]")
    assert await page.is_hidden("[data-tile=map] .nearby-panel")
    await page.click("[data-tile=map] [data-nearby]")  # search mode off: a right-click still searches
    await page.mouse.click(x, y, button="right")
    await panel_rows(page)
    assert len(sent) == 3

    await page.click(f"[data-tile=map] .nearby-panel [data-camera='{placed['cameras']['幸福路口']}']")
    await page.wait_for_selector(".camwin[data-camera]")
    assert "幸福路口" in await page.text_content(".camwin")
    assert refused == [] and page.errors == []


async def screenshot_tile(page: Any, name: str) -> None:
    """The map tile alone (the panel legible at its real size)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await (await page.query_selector("[data-tile=map]")).screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def test_the_tile_basemap_draws_gcj02_and_searches_in_wgs84(
    browser: Any, tiled_site: Site, tiles: TileServer
) -> None:
    site = tiled_site
    placed = await populate(site)
    event_id = placed["event"]["id"]
    r = await site.http.get("/api/v1/screens/map-config", headers=site.h("county_dispatcher"))
    assert r.json()["tiles"] == "custom" and r.json()["crs"] == "gcj02", r.text

    refused: list[str] = []
    page = await open_page(browser, site, "county_dispatcher", "/screens/overview", refused=refused)
    sent = nearby_requests(page)
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    await page.wait_for_selector("[data-tile=map] .leaflet-container .leaflet-tile-loaded", timeout=10000)
    assert any(re.fullmatch(r"/tiles/1\d/\d+/\d+\.png", path) for path in tiles.requested), tiles.requested

    # The event's marker sits where GCJ-02 puts it: as a LatLng, and as drawn on the screen.
    gcj = wgs84_to_gcj02(*EVENT_AT)
    assert haversine_m(*gcj, *EVENT_AT) > 300, "GCJ-02 moves a point in China by hundreds of metres"
    drawn = await page.evaluate(
        f"""() => {{
          const map = document.querySelector('[data-tile=map] .chart').leafletMap;
          let marker = null;
          map.eachLayer((l) => {{ if (l.eventId === {event_id}) marker = l; }});
          const at = marker.getLatLng();
          const box = marker.getElement().getBoundingClientRect();
          const container = map.getContainer().getBoundingClientRect();
          const want = map.latLngToContainerPoint([{gcj[0]}, {gcj[1]}]);
          return {{ lat: at.lat, lon: at.lng, x: box.left + box.width / 2 - container.left,
                   y: box.top + box.height / 2 - container.top, wantX: want.x, wantY: want.y }};
        }}"""
    )
    assert abs(drawn["lat"] - gcj[0]) < 1e-9 and abs(drawn["lon"] - gcj[1]) < 1e-9, (drawn, gcj)
    assert abs(drawn["x"] - drawn["wantX"]) < 1.5 and abs(drawn["y"] - drawn["wantY"]) < 1.5, drawn

    # 周边搜索: click where the tiles show SEARCH_AT; the page asks in WGS-84.
    await page.click("[data-tile=map] [data-nearby]")
    target = wgs84_to_gcj02(*SEARCH_AT)
    x, y = await page.evaluate(
        f"""() => {{ const map = document.querySelector('[data-tile=map] .chart').leafletMap;
            const p = map.latLngToContainerPoint([{target[0]}, {target[1]}]);
            const box = map.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y]; }}"""
    )
    await page.mouse.click(x, y)
    rows = await panel_rows(page)
    assert len(sent) == 1 and haversine_m(*sent[0], *SEARCH_AT) < 30, (sent, SEARCH_AT)
    check_found(rows, placed, sent[0])
    assert await page.query_selector("[data-tile=map] path.search-centre") is not None, "the circle is drawn"

    await page.check("[data-tile=map] [data-layer=heat]")
    await page.check("[data-tile=map] [data-layer=cameras]")
    await page.wait_for_selector("[data-tile=map] canvas.leaflet-heatmap-layer")
    await page.mouse.move(5, 5)
    await page.wait_for_timeout(600)
    await screenshot(page, "overview-tiles-1920x1080")
    await screenshot_tile(page, "overview-nearby")
    assert refused == [] and page.errors == []
