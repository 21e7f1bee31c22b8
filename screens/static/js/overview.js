// 运行概览大屏: loads the layout document and the overview, draws the tiles, follows
// screen:overview.{code} live, drills down county → town → village → grid → event, and edits the layout.

import { api, connectionBadge, escapeHtml, Live, LEVEL_NAMES, requireLogin, STATE_NAMES, WARNING_NAMES } from "/static/js/gridhub.js";
import { DEFAULT_LAYOUT, TILES } from "/static/js/overview-tiles.js";

requireLogin();

const CHILD_LEVEL = { county: "town", town: "village", village: "grid", grid: "grid" };
const params = new URLSearchParams(location.search);
/** The screen whose layout this page shows and edits (?screen=NAME, read by overview-boot.js). */
const SCREEN = window.gridhubScreen;
const layoutUrl = `/api/v1/screens/${SCREEN}/layout`;
const grid = document.getElementById("grid");
const popup = document.getElementById("popup");

const OFFLINE_MAP = { tiles: "", layers: [], crs: "wgs84", attribution: "", dark: true };

const ctx = {
  mapName: "",
  regionCodes: {},
  geo: null, // the boundaries drawn: a FeatureCollection of the child level (WGS-84)
  centre: null, // [lat, lon] of the jurisdiction, where it has no boundaries to fit
  mapConfig: OFFLINE_MAP,
  cameras: [],
  leafletEngine: null, // overview-leaflet.js, loaded only with a basemap
  playCamera(camera) {
    import("/static/js/camera-window.js").then((m) => m.openCameraWindow(camera));
  },
  drill(code) {
    const url = new URL(location.href);
    url.searchParams.set("jurisdiction", code);
    location.assign(url);
  },
  showEvent(ev, mouse) {
    popup.innerHTML = `<span class="close" id="popclose">✕</span><b>${escapeHtml(ev.title)}</b><br>
      状态:${STATE_NAMES[ev.state] || ev.state} · <span class="w-${ev.warning}">${WARNING_NAMES[ev.warning]}</span><br>
      紧急程度:${{ normal: "一般", urgent: "紧急", critical: "特急" }[ev.urgency] || ev.urgency}<br>
      <a href="/screens/console?event=${ev.id}">在调度台打开事件 #${ev.id}</a>`;
    popup.style.left = `${Math.min((mouse && mouse.clientX) || 200, innerWidth - 360)}px`;
    popup.style.top = `${Math.min((mouse && mouse.clientY) || 200, innerHeight - 160)}px`;
    popup.hidden = false;
    document.getElementById("popclose").onclick = () => { popup.hidden = true; };
  },
};

let layout = structuredClone(DEFAULT_LAYOUT);
let mounted = []; // [{tile, el, view}]
let data = null;
let node = null;

function tileElement(tile) {
  const type = TILES[tile.type];
  const el = document.createElement("section");
  el.className = "tile";
  el.dataset.tile = tile.id;
  const { x, y, w, h } = tile.gridPos;
  el.style.gridColumn = `${x + 1} / span ${w}`;
  el.style.gridRow = `${y + 1} / span ${h}`;
  el.innerHTML = `<h2>${escapeHtml(tile.title || type.title)}</h2><div class="body"></div>
    <div class="edit"><button data-op="w-" title="变窄">−</button><button data-op="w+" title="变宽">+</button>
    <button data-op="h-" title="变矮">▴</button><button data-op="h+" title="变高">▾</button><button data-op="hide" title="隐藏">×</button></div>`;
  return el;
}

function render() {
  for (const m of mounted) m.view.dispose && m.view.dispose();
  grid.innerHTML = "";
  mounted = [];
  for (const tile of layout.tiles) {
    const type = TILES[tile.type];
    if (!type) continue;
    const el = tileElement(tile);
    grid.appendChild(el);
    const view = type.mount(el.querySelector(".body"), tile, ctx);
    mounted.push({ tile, el, view });
  }
  if (data) update(data);
  fillAddMenu();
}

function update(d) {
  data = d;
  const timings = {};
  for (const m of mounted) {
    const t0 = performance.now();
    try {
      m.view.update(d);
    } catch (err) {
      console.error(`tile ${m.tile.id}`, err);
    }
    timings[m.tile.id] = Math.round(performance.now() - t0);
  }
  window.gridhubTileTimings = timings; // what each tile's last update cost, for the benchmark
  window.gridhubFirstTileTimings ??= timings; // and the first (the first picture's share)
  document.body.dataset.generatedAt = d.generated_at;
}

async function loadMap() {
  const level = CHILD_LEVEL[node.level];
  const geo = await api("/api/v1/jurisdictions.geojson", { params: { level } });
  const features = geo.features.filter((f) => (node.level === "grid" ? f.properties.code === node.code : f.properties.parent === node.code));
  ctx.mapName = `j-${node.code}`;
  ctx.regionCodes = Object.fromEntries(features.map((f) => [f.properties.name, f.properties.code]));
  ctx.geo = { type: "FeatureCollection", features };
  ctx.centre = node.center;
  echarts.registerMap(ctx.mapName, ctx.geo);
}

/** The basemap (GET /api/v1/screens/map-config); offline GeoJSON when none is configured or Leaflet fails.
 * Leaflet and the datum shift are fetched only when a basemap is configured. */
async function loadMapConfig() {
  try {
    const config = await api("/api/v1/screens/map-config");
    if (config.tiles) {
      const { leafletEngine, loadLeaflet } = await import("/static/js/overview-leaflet.js");
      await loadLeaflet();
      ctx.leafletEngine = leafletEngine;
    }
    ctx.mapConfig = config;
  } catch (err) {
    console.warn("basemap unavailable, drawing the offline map", err);
    ctx.mapConfig = OFFLINE_MAP;
  }
}

async function loadCameras() {
  try {
    const page = await api("/api/v1/cameras", { params: { page_size: 5000 } });
    ctx.cameras = (page.items || page).filter((c) => c.lat !== null && c.lon !== null);
  } catch (err) {
    ctx.cameras = [];
  }
}

async function loadLayout() {
  try {
    const saved = await api(layoutUrl); // 204 (no body): none saved yet
    if (saved && Array.isArray(saved.tiles)) layout = saved;
  } catch (err) {
    console.warn("layout", err);
  }
}

/** 县区 › 镇街 › …: the jurisdiction's ancestors from the user's own jurisdiction down (the document's path). */
function breadcrumbs(own) {
  const path = node.path || [node];
  const from = Math.max(0, path.findIndex((n) => n.code === own));
  document.getElementById("crumbs").innerHTML = path
    .slice(from)
    .map((n) => (n.code === node.code ? `<span>${escapeHtml(n.name)}</span>` : `<a href="?jurisdiction=${n.code}">${escapeHtml(n.name)}</a> ›`))
    .join(" ");
  document.getElementById("title").textContent = `${node.name}运行概览`;
  document.title = `${node.name}运行概览 · gridhub`;
}

let siteOffset; // seconds east of UTC of the zone "today" is counted in (the overview document's)

/** The clock in the site's time, whatever the zone of the browser showing it. Formatted by hand from the
 * document's UTC offset (renewed with every document): a first Intl.DateTimeFormat costs a cold page ~50 ms. */
function tick() {
  const offset = (data && data.utc_offset_s) ?? siteOffset;
  let parts;
  if (offset === undefined) {
    const d = new Date(); // no document yet: the browser's own time
    parts = [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  } else {
    const d = new Date(Date.now() + offset * 1000); // the site's wall time, read with the UTC getters
    parts = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  }
  const [y, mo, day, h, mi, se] = parts;
  const two = (n) => String(n).padStart(2, "0");
  document.getElementById("clock").textContent = `${y}/${mo}/${day} ${two(h)}:${two(mi)}:${two(se)}`;
}

/** A wall watched from 5 m must not look current when it is not: with the hub out of reach the tiles dim and
 * a banner says since when the numbers are. */
let linkUp = false; // the live link has been up since the page loaded
let staleTimer = null;
function showLink(state) {
  const stale = document.getElementById("stale");
  if (state === "online") {
    clearTimeout(staleTimer);
    staleTimer = null;
    linkUp = true;
    document.body.classList.remove("stale");
    stale.hidden = true;
    return;
  }
  if (!linkUp || document.body.classList.contains("stale") || staleTimer) return; // reconnect attempts repeat this
  const since = document.getElementById("clock").textContent.split(" ")[1] || ""; // when the link dropped
  // a blip of a second or two (a hub restarting its listener) is not worth alarming the room
  staleTimer = setTimeout(() => {
    staleTimer = null;
    document.body.classList.add("stale");
    stale.textContent = `数据连接中断,正在重连…  画面数据截至 ${since}`;
    stale.hidden = false;
  }, 2000);
}

// --- edit mode -------------------------------------------------------------------------------------
let editing = null; // the layout before editing, to cancel

function fillAddMenu() {
  const add = document.getElementById("add");
  const shown = new Set(layout.tiles.map((t) => t.type));
  add.innerHTML = `<option value="">添加图块…</option>${Object.entries(TILES)
    .filter(([type]) => !shown.has(type))
    .map(([type, t]) => `<option value="${type}">${t.title}</option>`)
    .join("")}`;
}

function setEditing(on) {
  document.body.classList.toggle("editing", on);
  document.getElementById("editbar").hidden = !on;
  document.getElementById("edit").hidden = on;
  for (const m of mounted) m.el.draggable = on;
  setTimeout(() => mounted.forEach((m) => m.view.resize && m.view.resize()), 50);
}

const COLUMNS = 24;
const ROWS = 12;
const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
/** Whether `pos` fits the grid without covering another tile than `self` (each cell shows one tile). */
const fits = (pos, self) =>
  pos.x >= 0 && pos.y >= 0 && pos.x + pos.w <= COLUMNS && pos.y + pos.h <= ROWS &&
  layout.tiles.every((t) => t === self || !overlaps(pos, t.gridPos));
/** The first free place of w × h (top to bottom, left to right), or null. */
function freePlace(w, h) {
  for (let y = 0; y + h <= ROWS; y++) for (let x = 0; x + w <= COLUMNS; x++) if (fits({ x, y, w, h })) return { x, y, w, h };
  return null;
}
const editMessage = (text) => { document.getElementById("editmsg").textContent = text; };

grid.addEventListener("click", (e) => {
  const button = e.target.closest(".edit button");
  if (!button) return;
  const id = button.closest(".tile").dataset.tile;
  const tile = layout.tiles.find((t) => t.id === id);
  const p = tile.gridPos;
  const next = { ...p };
  switch (button.dataset.op) {
    case "w-": next.w = Math.max(3, p.w - 1); break;
    case "w+": next.w = p.w + 1; break;
    case "h-": next.h = Math.max(1, p.h - 1); break;
    case "h+": next.h = p.h + 1; break;
    case "hide": layout.tiles = layout.tiles.filter((t) => t.id !== id); break;
  }
  if (button.dataset.op !== "hide") {
    if (!fits(next, tile)) {
      editMessage("旁边没有空位:先缩小或隐藏相邻的图块");
      return;
    }
    tile.gridPos = next;
  }
  editMessage("");
  render();
  setEditing(true);
});

let dragged = null;
grid.addEventListener("dragstart", (e) => { dragged = e.target.closest(".tile")?.dataset.tile; });
grid.addEventListener("dragover", (e) => { if (dragged) { e.preventDefault(); e.target.closest(".tile")?.classList.add("drop"); } });
grid.addEventListener("dragleave", (e) => e.target.closest(".tile")?.classList.remove("drop"));
grid.addEventListener("drop", (e) => {
  e.preventDefault();
  const target = e.target.closest(".tile")?.dataset.tile;
  if (!dragged || !target || target === dragged) return;
  const a = layout.tiles.find((t) => t.id === dragged);
  const b = layout.tiles.find((t) => t.id === target);
  [a.gridPos, b.gridPos] = [b.gridPos, a.gridPos];
  dragged = null;
  render();
  setEditing(true);
});

document.getElementById("add").addEventListener("change", (e) => {
  const type = e.target.value;
  if (!type) return;
  e.target.value = "";
  const place = freePlace(6, 3) || freePlace(6, 2) || freePlace(4, 2) || freePlace(3, 1);
  if (!place) {
    editMessage("没有空位:先缩小或隐藏图块,再添加");
    return;
  }
  editMessage("");
  layout.tiles.push({ id: `${type}-${Date.now().toString(36)}`, type, gridPos: place, options: TILES[type].defaultOptions || {} });
  render();
  setEditing(true);
});

document.getElementById("edit").onclick = () => {
  editing = structuredClone(layout);
  setEditing(true);
};
document.getElementById("cancel").onclick = () => {
  layout = editing;
  render();
  setEditing(false);
};
document.getElementById("save").onclick = async () => {
  const msg = document.getElementById("editmsg");
  try {
    layout = await api(layoutUrl, { method: "PUT", body: { ...layout, uid: SCREEN } });
    msg.textContent = "";
    render();
    setEditing(false);
  } catch (err) {
    msg.textContent = {
      412: "布局已被他人修改,请刷新后再编辑",
      403: "此大屏属于上级或其他辖区,您不能修改它的布局;可在地址后加 ?screen=名称 布置本辖区自己的大屏",
      422: "布局无效:图块超出范围或相互重叠",
    }[err.status] || `保存失败:${err.message}`;
  }
};

// --- start -----------------------------------------------------------------------------------------
async function main() {
  performance.mark("gridhub:start");
  // Everything the first picture needs, at once (overview-boot.js started these requests already).
  const asked = params.get("jurisdiction") || undefined; // none: the user's own jurisdiction
  const me = api("/api/v1/auth/me");
  const loading = Promise.all([me, loadLayout(), loadCameras(), loadMapConfig()]);
  loading.catch(() => {}); // reported below, where it is awaited
  let first;
  try {
    first = await api("/api/v1/screens/overview", { params: { jurisdiction: asked } });
  } catch (err) {
    if (err.status !== 404 && err.status !== 422) throw err;
    grid.innerHTML = `<div class="unavailable">辖区 ${escapeHtml(asked || "")} 不存在或不在您的辖区范围内</div>`;
    return;
  }
  siteOffset = first.utc_offset_s;
  tick();
  setInterval(tick, 1000);
  const [user] = await loading;
  performance.mark("gridhub:data");
  node = first.jurisdiction;
  const code = node.code;
  breadcrumbs(user.jurisdiction_code);
  await loadMap();
  performance.mark("gridhub:map");
  render();
  performance.mark("gridhub:mounted");
  update(first);
  performance.mark("gridhub:updated");
  const badge = connectionBadge(document.getElementById("conn"));
  const live = new Live({ onState: (state) => { badge(state); showLink(state); } });
  const reload = async () => update(await api("/api/v1/screens/overview", { params: { jurisdiction: code } }));
  requestAnimationFrame(() => {
    document.body.dataset.paintedAt = String(Math.round(performance.now()));
    // live from the next task on: the subscription's first document (the same one) does not delay this frame
    setTimeout(() => live.subscribe(`screen:overview.${code}`, (msg) => update(msg.data), reload), 0);
  });
  addEventListener("resize", () => mounted.forEach((m) => m.view.resize && m.view.resize()));
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  console.error(err);
  grid.innerHTML = `<div class="unavailable">加载失败:${escapeHtml(err.message)}</div>`;
});
