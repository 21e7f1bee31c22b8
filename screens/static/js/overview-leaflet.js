// The map tile on a tile basemap (天地图, 高德 or a custom server, GET /api/v1/screens/map-config): Leaflet
// draws the tiles, gridhub's GeoJSON boundaries, the event / responder / camera markers, the event heat
// layer (leaflet.heat) and the search circle. Positions are WGS-84 in gridhub and shifted to the tiles'
// datum to be drawn (datum.js); a picked point is shifted back before it is searched.
//
// Leaflet is loaded only when a basemap is configured (loadLeaflet); the offline map never fetches it.

import { escapeHtml, STATE_NAMES, WARNING_NAMES } from "/static/js/gridhub.js";
import { datum } from "/static/js/datum.js";
import { C, rem } from "/static/js/overview-style.js";

const LEAFLET = "/static/vendor/leaflet-1.9.4";

function load(tag, attrs) {
  return new Promise((resolve, reject) => {
    const el = Object.assign(document.createElement(tag), attrs);
    el.onload = resolve;
    el.onerror = () => reject(new Error(`无法加载 ${attrs.src || attrs.href}`));
    document.head.append(el);
  });
}

/** Leaflet, its stylesheet and leaflet.heat, from the hub (vendored). */
export async function loadLeaflet() {
  if (window.L && window.L.heatLayer) return;
  await Promise.all([load("link", { rel: "stylesheet", href: `${LEAFLET}/leaflet.css` }), load("script", { src: `${LEAFLET}/leaflet.js` })]);
  await load("script", { src: "/static/vendor/leaflet-heat-0.2.0.js" });
}

const warningColour = (w) => (w === "red" ? C.red : w === "yellow" ? C.yellow : C.accent);

export function leafletEngine(el, ctx, state, search) {
  const config = ctx.mapConfig;
  const shift = datum(config.crs);
  const map = L.map(el, { zoomSnap: 0.25, zoomDelta: 0.5, wheelPxPerZoomLevel: 120 });
  el.leafletMap = map; // the page's tests and benchmarks find the map here
  map.attributionControl.setPrefix("Leaflet");
  for (const layer of config.layers) {
    L.tileLayer(layer.url, { subdomains: layer.subdomains || "abc", maxZoom: layer.max_zoom, attribution: config.attribution }).addTo(map);
  }
  el.classList.toggle("tiles-dark", !!config.dark);

  const regions = L.geoJSON(shift.geojson(ctx.geo), {
    style: () => ({ color: C.accent, weight: 2, fillColor: "#1b5fae", fillOpacity: 0.12 }),
    onEachFeature: (feature, layer) => {
      const { code, name } = feature.properties;
      layer.bindTooltip(escapeHtml(name), { permanent: true, direction: "center", className: "region-label" });
      layer.on("click", () => !state.searching && ctx.drill(code));
      layer.on("mouseover", () => layer.setStyle({ fillOpacity: 0.25 }));
      layer.on("mouseout", () => layer.setStyle({ fillOpacity: 0.12 }));
    },
  }).addTo(map);
  const bounds = regions.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [24, 24] });
  else if (ctx.centre) map.setView(shift.toMap(...ctx.centre), 15);
  else map.fitWorld();

  const groups = { cameras: L.layerGroup().addTo(map), responders: L.layerGroup().addTo(map), events: L.layerGroup().addTo(map) };
  const searchGroup = L.layerGroup().addTo(map);
  let heat = null;

  // A click on a layer bubbles to the map (Leaflet's default), so the map's handler picks every point; on a
  // small marker Leaflet gives the marker's own position: the search is then around that event or camera.
  const pick = (e) => {
    const [lat, lon] = shift.toWgs(e.latlng.lat, e.latlng.lng);
    search(lat, lon);
  };
  map.on("click", (e) => state.searching && pick(e));
  map.on("contextmenu", pick);

  const draw = (d) => {
    const { layers } = state;
    const r = rem();
    for (const group of Object.values(groups)) group.clearLayers();
    if (layers.cameras) {
      for (const cam of ctx.cameras) {
        L.circleMarker(shift.toMap(cam.lat, cam.lon), { radius: 0.22 * r, color: "#fff", weight: 1, fillColor: C.camera, fillOpacity: 0.95, className: `cam cam-${cam.id}` })
          .bindTooltip(`摄像头:${escapeHtml(cam.name)}`)
          .on("click", () => !state.searching && ctx.playCamera(cam))
          .addTo(groups.cameras);
      }
    }
    if (layers.responders) {
      for (const p of d.forces.positions) {
        L.circleMarker(shift.toMap(p.lat, p.lon), { radius: 0.25 * r, color: "#fff", weight: 1, fillColor: C.green, fillOpacity: 0.95, className: "responder" })
          .bindTooltip(`网格员:${escapeHtml(p.name)}`)
          .addTo(groups.responders);
      }
    }
    if (layers.events) {
      for (const m of d.markers) {
        const marker = L.circleMarker(shift.toMap(m.lat, m.lon), {
          radius: (m.warning === "red" ? 0.36 : 0.3) * r, color: "#fff", weight: 1, fillColor: warningColour(m.warning), fillOpacity: 0.95,
          className: `ev ev-${m.id} w-${m.warning}`,
        });
        marker.eventId = m.id;
        marker.bindTooltip(`${escapeHtml(m.title)}<br>${STATE_NAMES[m.state] || m.state} · ${WARNING_NAMES[m.warning]}`);
        marker.on("click", (e) => !state.searching && ctx.showEvent(m, e.originalEvent));
        marker.addTo(groups.events);
      }
    }
    const points = layers.heat ? d.markers.map((m) => [...shift.toMap(m.lat, m.lon), 1]) : [];
    if (points.length && !heat) {
      heat = L.heatLayer(points, { radius: 1.1 * r, blur: 0.9 * r, minOpacity: 0.25, max: 3, gradient: { 0.25: "#35c2ff", 0.55: "#ffc53d", 1: "#ff4d4f" } }).addTo(map);
    } else if (heat && points.length) heat.setLatLngs(points);
    else if (heat) {
      heat.remove();
      heat = null;
    }
  };

  const drawCircle = (circle) => {
    searchGroup.clearLayers();
    if (!circle) return;
    const centre = shift.toMap(circle.lat, circle.lon);
    L.circle(centre, { radius: circle.radius, color: C.yellow, weight: 2, dashArray: "8 5", fillColor: C.yellow, fillOpacity: 0.12, interactive: false }).addTo(searchGroup);
    L.circleMarker(centre, { radius: 0.3 * rem(), color: "#fff", weight: 2, fillColor: C.yellow, fillOpacity: 1, interactive: false, className: "search-centre" }).addTo(searchGroup);
  };

  return {
    draw,
    drawCircle,
    resize: () => map.invalidateSize(),
    dispose: () => map.remove(),
  };
}
