// 辖区地图, the big screen's map tile: layers (events, heat, responders, cameras), drill-down by region,
// and 周边搜索 — a point picked on the map (in search mode, or by right-click) opens the 周边资源 panel
// and the search circle.
//
// Offline by default: gridhub's own GeoJSON drawn by ECharts `geo`, nothing fetched beyond the hub. With a
// basemap configured (GET /api/v1/screens/map-config) Leaflet draws the tiles under the same boundaries and
// layers (overview-leaflet.js, which overview.js loads only then as ctx.leafletEngine). Both engines answer the
// same calls: draw(d), drawCircle(c), resize(), dispose().

import { escapeHtml, STATE_NAMES, WARNING_NAMES } from "/static/js/gridhub.js";
import { circleRing, NearbyPanel } from "/static/js/nearby.js";
import { initChart } from "/static/js/overview-chart.js";
import { C, rem } from "/static/js/overview-style.js";

/** Overdue events drawn with a ripple on the offline map at most (the newest). */
const RIPPLES_MAX = 20;
/** The search circle: the yellow of the panel's distances, over dark tiles and the bright regions alike. */
const SEARCH_FILL = "rgba(255,197,61,.14)";
const LAYER_NAMES = { events: "事件", heat: "热力", responders: "网格员", cameras: "摄像头" };
const DEFAULT_LAYERS = { events: true, heat: false, responders: true, cameras: false };

const warningColour = (w) => (w === "red" ? C.red : w === "yellow" ? C.yellow : C.accent);

/** The offline map: ECharts `geo` over the jurisdictions' GeoJSON (registered as ctx.mapName). */
function echartsEngine(el, ctx, state, search) {
  const c = initChart(el);
  c.on("click", (p) => {
    if (state.searching) return; // the click picks a point (below)
    if (p.componentType === "geo" || p.seriesType === "map") {
      const code = ctx.regionCodes[p.name];
      if (code) ctx.drill(code);
    } else if (p.seriesName === "事件" || p.seriesName === "超期事件") {
      ctx.showEvent(p.data.event, p.event && p.event.event);
    } else if (p.seriesName === "摄像头" && p.data.camera) {
      ctx.playCamera(p.data.camera);
    }
  });
  const pick = (e) => {
    const at = c.convertFromPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY]);
    if (at && Number.isFinite(at[0]) && Number.isFinite(at[1])) search(at[1], at[0]);
  };
  c.getZr().on("click", (e) => state.searching && pick(e));
  c.getZr().on("contextmenu", pick);
  el.addEventListener("contextmenu", (e) => e.preventDefault());

  const draw = (d) => {
    const { layers } = state;
    const markers = layers.events ? d.markers : [];
    const point = (m) => ({ value: [m.lon, m.lat, 1], event: m });
    const byWarning = { color: (p) => warningColour(p.data.event.warning) };
    const open = Object.fromEntries(d.children.map((r) => [r.name, r.open]));
    // the newest overdue events ripple (markers come newest first); more ripples would be noise to the eye
    // and a steady load on the wall's renderer, so older overdue ones are plain red points
    const overdue = markers.filter((m) => m.warning === "red");
    const rippling = new Set(overdue.slice(0, RIPPLES_MAX));
    const series = [
      { type: "map", map: ctx.mapName, geoIndex: 0, data: Object.entries(open).map(([name, value]) => ({ name, value })) },
      { name: "事件", type: "scatter", coordinateSystem: "geo", symbolSize: 0.55 * rem(), itemStyle: byWarning, data: markers.filter((m) => !rippling.has(m)).map(point), zlevel: 2 },
      { name: "超期事件", type: "effectScatter", coordinateSystem: "geo", symbolSize: 0.65 * rem(), itemStyle: byWarning, data: [...rippling].map(point), zlevel: 3,
        rippleEffect: { scale: 3 } },
      { name: "网格员", type: "scatter", coordinateSystem: "geo", symbol: "diamond", symbolSize: 0.5 * rem(), itemStyle: { color: C.green },
        data: layers.responders ? d.forces.positions.map((p) => ({ value: [p.lon, p.lat], name: p.name })) : [], zlevel: 2 },
      { name: "摄像头", type: "scatter", coordinateSystem: "geo", symbol: "rect", symbolSize: 0.35 * rem(), itemStyle: { color: C.camera },
        data: layers.cameras ? ctx.cameras.map((cam) => ({ value: [cam.lon, cam.lat], name: cam.name, camera: cam })) : [], zlevel: 1 },
    ];
    if (state.circle) {
      const { lat, lon, radius } = state.circle;
      const ring = circleRing(lat, lon, radius);
      series.push(
        { name: "搜索范围", type: "custom", coordinateSystem: "geo", silent: true, animation: false, zlevel: 4, data: [[lon, lat]],
          renderItem: (params, api) => ({ type: "polygon", shape: { points: ring.map((p) => api.coord(p)) },
            style: { fill: SEARCH_FILL, stroke: C.yellow, lineWidth: 2, lineDash: [8, 5] } }) },
        { name: "搜索中心", type: "scatter", coordinateSystem: "geo", silent: true, animation: false, zlevel: 4, symbol: "pin",
          symbolSize: 1.5 * rem(), itemStyle: { color: C.yellow, borderColor: "#fff", borderWidth: 1 },
          data: [{ value: [lon, lat] }] },
      );
    }
    if (layers.heat) series.push({ name: "热力", type: "heatmap", coordinateSystem: "geo", data: d.markers.map((m) => [m.lon, m.lat, 1]), pointSize: 1.3 * rem(), blurSize: 1.8 * rem(), zlevel: 1 });
    const maxOpen = Math.max(1, ...Object.values(open));
    c.setOption({
      tooltip: { formatter: (p) => (p.data && p.data.event ? `${escapeHtml(p.data.event.title)}<br>${STATE_NAMES[p.data.event.state]} · ${WARNING_NAMES[p.data.event.warning]}` : `${escapeHtml(p.name)}${p.value !== undefined && !Array.isArray(p.value) ? `:在办 ${p.value} 件` : ""}`) },
      visualMap: [
        { seriesIndex: 0, min: 0, max: maxOpen, show: false, inRange: { color: ["#0d2f5e", "#1b5fae", "#2f8cff"] } },
        ...(layers.heat ? [{ seriesIndex: series.length - 1, min: 0, max: 3, show: false,
          // warm colours over the blue regions: one event a soft yellow glow, a cluster red
          inRange: { color: ["rgba(255,197,61,0)", "rgba(255,197,61,.55)", "#ff8c1a", "#ff3b3b"] } }] : []),
      ],
      // one pixel is as many metres east-west as north-south at the jurisdiction's latitude (ECharts' default
      // 0.75 is cos 41°): the search circle is round, the towns keep their shapes
      geo: { map: ctx.mapName, roam: true, zoom: 1.1, aspectScale: ctx.centre ? Math.cos((ctx.centre[0] * Math.PI) / 180) : 0.75, label: { show: true, color: "#cfe3ff", fontSize: 0.65 * rem() },
        itemStyle: { areaColor: "#0d2f5e", borderColor: "#35c2ff", borderWidth: 1 },
        emphasis: { itemStyle: { areaColor: "#245fb0" }, label: { color: "#fff" } } },
      series,
    }, { replaceMerge: ["series", "visualMap"] });
  };
  return {
    draw,
    drawCircle: () => state.last && draw(state.last),
    resize: () => c.resize(),
    dispose: () => c.dispose(),
  };
}

export const MAP_TILE = {
  title: "辖区地图",
  defaultOptions: { layers: { ...DEFAULT_LAYERS } },
  mount(body, tile, ctx) {
    const state = { layers: { ...DEFAULT_LAYERS, ...(tile.options && tile.options.layers) }, searching: false, circle: null, last: null };
    body.innerHTML = `<div class="layers">${Object.keys(LAYER_NAMES)
      .map((k) => `<label><input type="checkbox" data-layer="${k}" ${state.layers[k] ? "checked" : ""}> ${LAYER_NAMES[k]}</label>`)
      .join("")}<button class="nearby-toggle" data-nearby title="点击地图上的位置,查看周边的摄像头、处置力量、指挥中心和事件(右键单击亦可)">周边搜索</button></div>
      <div class="legend"><i style="background:${C.accent}"></i>正常<i style="background:${C.yellow}"></i>预警<i style="background:${C.red}"></i>超期<i style="background:${C.green}"></i>在线网格员<i class="sq" style="background:${C.camera}"></i>摄像头</div>
      <div class="chart map-canvas"></div><div class="map-hint" hidden>点击地图上的位置,搜索周边资源</div>`;
    const engineOf = ctx.mapConfig.tiles && ctx.leafletEngine ? ctx.leafletEngine : echartsEngine;
    let panel = null;
    const engine = engineOf(body.querySelector(".chart"), ctx, state, (lat, lon) => panel.search(lat, lon));
    panel = new NearbyPanel(body, {
      onSearch: (circle) => {
        state.circle = circle;
        engine.drawCircle(circle);
      },
      onCamera: (camera) => ctx.playCamera(camera),
      onEvent: (event, mouse) => ctx.showEvent(event, mouse),
    });
    body.querySelectorAll("[data-layer]").forEach((box) => box.addEventListener("change", () => {
      state.layers[box.dataset.layer] = box.checked;
      tile.options = { ...(tile.options || {}), layers: { ...state.layers } };
      if (state.last) engine.draw(state.last);
    }));
    const toggle = body.querySelector("[data-nearby]");
    toggle.addEventListener("click", () => {
      state.searching = !state.searching;
      toggle.classList.toggle("on", state.searching);
      body.classList.toggle("map-searching", state.searching);
      body.querySelector(".map-hint").hidden = !state.searching;
    });
    return {
      update: (d) => {
        state.last = d;
        engine.draw(d);
      },
      resize: () => engine.resize(),
      dispose: () => engine.dispose(),
    };
  },
};
