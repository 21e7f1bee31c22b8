// 坐席调度台: the views of DESIGN section 3, an event's detail with the buttons its allowed_actions
// draw, the nearby cameras and responders, and a 1/4/9/16 video wall with live play and lookback.

import { api, ApiError, CAMERA_STATES, connectionBadge, escapeHtml, fmt, Live, requireLogin, setToken, STATE_NAMES, token, WARNING_NAMES } from "/static/js/gridhub.js";
import { Player, playerErrorText } from "/static/js/player.js";
import { ACTIONS, actionForm, DIRECT_KEYS, errorText, pendingExtension } from "/static/js/console-actions.js";

requireLogin();

const VIEWS = [
  ["预受理", [["pending", "待受理"], ["rejected", "不予受理"]]],
  ["我的事件", [["my_todo", "待办理"], ["my_verify", "待核查"], ["my_done", "已办理"], ["my_closed", "已办结"]]],
  ["辖区事件", [["area_in_progress", "办理中"], ["area_verify", "待核查"], ["area_closed", "已办结"]]],
  ["事件审批", [["extensions", "延期申请"]]],
];
const SOURCE_NAMES = { detection: "视频智能发现", grid_worker: "网格员巡查", citizen: "群众", hotline: "12345热线", department: "部门", import: "导入", dispatcher: "坐席" };
const PLATFORM_NAMES = { zongzhi: "综治工作", shichang: "市场监管", shichang_jianguan: "市场监管", zonghe_zhifa: "综合执法", bianmin: "便民服务" };
const URGENCY_NAMES = { normal: "一般", urgent: "紧急", critical: "特急" };
const PAGE_SIZE = 50;

const $ = (id) => document.getElementById(id);
const state = { view: "pending", page: 1, total: 0, items: [], selected: null, detail: null, nearby: null, me: null, wall: [], parked: [], wallSize: 4 };

export function toast(text, kind = "") {
  const el = $("toast");
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(el._t);
  el._t = setTimeout(() => (el.hidden = true), kind === "error" ? 6000 : 2500);
}

// --- views and list --------------------------------------------------------------------------------
function drawViews() {
  $("views").innerHTML = VIEWS.map(([group, views]) => `<h4>${group}</h4>${views
    .map(([key, name]) => `<button data-view="${key}" class="${key === state.view ? "on" : ""}"><span>${name}</span><span class="count" data-count="${key}">·</span></button>`)
    .join("")}`).join("");
}

async function refreshCounts() {
  await Promise.all(VIEWS.flatMap(([, views]) => views).map(async ([key]) => {
    try {
      const page = await api("/api/v1/events", { params: { view: key, page_size: 1 } });
      const el = document.querySelector(`[data-count="${key}"]`);
      el.textContent = page.total_exact === false ? `${page.total}+` : page.total;
      el.classList.toggle("hot", key === "pending" && page.total > 0);
    } catch (err) { /* a view this role may not use: leave the dot */ }
  }));
}

/** The views that are work to do: listed by deadline, the most overdue first (the others newest first). */
const WORK_QUEUES = new Set(["pending", "my_todo", "my_verify", "area_in_progress", "area_verify", "extensions"]);

function filters() {
  return { view: state.view, page: state.page, page_size: PAGE_SIZE, q: $("q").value.trim(), urgency: $("urgency").value, source: $("source").value, sort: WORK_QUEUES.has(state.view) ? "deadline" : "newest" };
}

async function loadList({ flashIds = [] } = {}) {
  let page;
  try {
    page = await api("/api/v1/events", { params: filters() });
  } catch (err) {
    toast(errorText(err), "error");
    return;
  }
  state.items = page.items;
  state.total = page.total;
  const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
  $("pageinfo").textContent = `第 ${state.page} / ${pages} 页,共 ${page.total} 件`;
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  $("events").innerHTML = page.items.map((e) => `<li data-id="${e.id}" class="${e.id === state.selected ? "on" : ""} ${flashIds.includes(e.id) ? "new" : ""}">
      <div class="thumb" data-thumb="${e.id}">${e.source === "detection" ? "智能发现" : SOURCE_NAMES[e.source] || ""}</div>
      <div><div class="t">${escapeHtml(e.title)}</div>
      <div class="m"><span class="badge u-${e.urgency}">${URGENCY_NAMES[e.urgency] || e.urgency}</span>
        <span class="src-${e.source}">${SOURCE_NAMES[e.source] || e.source}</span><span>${STATE_NAMES[e.state]}</span>
        ${e.warning !== "none" ? `<span class="w-${e.warning}">${WARNING_NAMES[e.warning]}</span>` : ""}<span>${fmt(e.created_at)}</span></div></div></li>`).join("");
  loadThumbs(page.items.filter((e) => e.source === "detection"));
}

/** Detection events show their snapshot in the queue (the dispatcher judges it at a glance). */
async function loadThumbs(events) {
  for (const e of events.slice(0, 20)) {
    try {
      const d = await api(`/api/v1/events/${e.id}`);
      const snap = (d.media || []).find((m) => m.kind === "snapshot");
      const el = document.querySelector(`[data-thumb="${e.id}"]`);
      if (snap && el) {
        el.style.backgroundImage = `url("${mediaUrl(snap.url)}")`;
        el.textContent = "";
      }
    } catch (err) { /* the event moved out of sight meanwhile */ }
  }
}

function mediaUrl(url) {
  const u = new URL(url, location.origin);
  u.searchParams.set("token", token());
  return u.pathname + u.search;
}

// --- detail ----------------------------------------------------------------------------------------
async function select(id, { quiet = false } = {}) {
  state.selected = id;
  document.querySelectorAll("#events li").forEach((li) => li.classList.toggle("on", Number(li.dataset.id) === id));
  document.querySelector(`#events li[data-id="${id}"]`)?.scrollIntoView({ block: "nearest" });
  try {
    const [detail, nearby] = await Promise.all([
      api(`/api/v1/events/${id}`),
      api(`/api/v1/events/${id}/nearby`, { params: { radius_m: 2000 } }).catch(() => null),
    ]);
    if (state.selected !== id) return;
    state.detail = detail;
    state.nearby = nearby;
    drawDetail();
  } catch (err) {
    if (!quiet) toast(errorText(err), "error");
    if (err instanceof ApiError && err.status === 404) $("detail").innerHTML = `<div class="placeholder">事件已不在您的可见范围内</div>`;
  }
}

function drawDetail(message) {
  const e = state.detail;
  const media = (e.media || []).filter((m) => (m.content_type || "").startsWith("image/"));
  const actions = e.allowed_actions.filter((a) => ACTIONS[a]);
  const waiting = pendingExtension(e);
  $("detail").innerHTML = `
    <h2>${escapeHtml(e.title)}</h2>
    <div class="m"><span class="badge u-${e.urgency}">${URGENCY_NAMES[e.urgency]}</span> <b>${STATE_NAMES[e.state]}</b>
      ${e.warning !== "none" ? `<span class="w-${e.warning}">${WARNING_NAMES[e.warning]}</span>` : ""} · 事件 #${e.id} · 版本 ${e.version}</div>
    ${message ? `<div class="stale">${message}</div>` : ""}
    <dl class="facts">
      <dt>类别</dt><dd>${escapeHtml(e.category_name || e.category_code)}(${escapeHtml(PLATFORM_NAMES[e.platform] || e.platform)})</dd>
      <dt>来源</dt><dd class="src-${e.source}">${SOURCE_NAMES[e.source] || e.source}</dd>
      <dt>位置</dt><dd>${escapeHtml([e.place_name, e.address].filter(Boolean).join(" · ") || e.grid_code || "")}</dd>
      <dt>上报时间</dt><dd>${fmt(e.created_at)}</dd>
      <dt>时限</dt><dd>${e.deadline_at ? fmt(e.deadline_at) : "—"}</dd>
      ${e.result_text ? `<dt>处置结果</dt><dd>${escapeHtml(e.result_text)}</dd>` : ""}
      ${e.reject_reason ? `<dt>不受理理由</dt><dd>${escapeHtml(e.reject_reason)}</dd>` : ""}
      ${e.tags.length ? `<dt>标签</dt><dd>${e.tags.map(escapeHtml).join("、")}</dd>` : ""}
      ${waiting ? `<dt>延期申请</dt><dd class="w-yellow">申请延期至 ${fmt(waiting.requested_deadline)}:${escapeHtml(waiting.reason)}</dd>` : ""}
    </dl>
    <p>${escapeHtml(e.description)}</p>
    ${media.length ? `<div class="media">${media.map((m) => `<a href="${mediaUrl(m.url)}" target="_blank"><img src="${mediaUrl(m.url)}" alt="${m.kind}"></a>`).join("")}</div>` : ""}
    <div class="actions" id="actions">${actions.length ? actions.map((a) => `<button data-action="${a}" class="${ACTIONS[a].style || ""}" title="${ACTIONS[a].key ? `快捷键 ${ACTIONS[a].key}` : ""}">${ACTIONS[a].name}</button>`).join("") : `<span class="m">当前无可执行的操作</span>`}</div>
    <div id="form"></div>
    ${nearbyHtml()}
    <h3>处置履历</h3>
    <ol class="timeline">${e.timeline.map((t) => `<li><time>${fmt(t.created_at)}</time><b>${escapeHtml(t.actor_name || "系统")}</b> ${escapeHtml(actionName(t.action))}${[stepDetail(t), t.note].filter(Boolean).map((x) => `:${escapeHtml(x)}`).join("")}</li>`).join("")}</ol>`;
}

/** What a step decided, from its timeline data (the extension asked for, granted or not; a failed check). */
function stepDetail(t) {
  const d = t.data || {};
  switch (t.action) {
    case "extend":
      return d.until ? `申请延期至 ${fmt(d.until)}${d.reason ? `,理由:${d.reason}` : ""}` : "";
    case "approve_extension":
      return "approved" in d ? `${d.approved ? "同意" : "不同意"}延期至 ${fmt(d.until)}` : "";
    case "verify":
      return "passed" in d ? (d.passed ? "核查通过" : "核查不通过") : "";
    case "tag":
      return Array.isArray(d.tags) ? d.tags.join("、") : "";
    default:
      return "";
  }
}

function actionName(a) {
  return (ACTIONS[a] && ACTIONS[a].name) || { report: "上报", reopen: "重新受理" }[a] || a;
}

function nearbyHtml() {
  const n = state.nearby;
  if (!n) return `<h3>附近资源</h3><div class="m">事件无坐标,无法检索附近资源</div>`;
  const cams = n.cameras.slice(0, 8);
  return `<h3>附近摄像头 <button id="playall" title="v">全部播放</button></h3>
    <ul class="nearby">${cams.length ? cams.map((c) => `<li data-name="${escapeHtml(c.name)}"><span class="ico cam"></span>${escapeHtml(c.name)} <span class="m">${CAMERA_STATES[c.status] || ""}</span><span class="d">${Math.round(c.distance_m)} 米</span>
      <button data-play="${c.id}">实时</button><button data-lookback="${c.id}">回看</button></li>`).join("") : `<li class="m">2 公里内没有摄像头</li>`}</ul>
    <h3>附近处置力量</h3>
    <ul class="nearby">${n.responders.slice(0, 8).map((r) => `<li><span class="ico person"></span>${escapeHtml(r.display_name || r.name || r.username)} ${r.phone ? `<span class="m">${escapeHtml(r.phone)}</span>` : ""}<span class="d">${Math.round(r.distance_m)} 米</span></li>`).join("") || `<li class="m">附近暂无在岗网格员</li>`}</ul>`;
}

async function act(action, body = {}) {
  const e = state.detail;
  const buttons = document.querySelectorAll("#actions button, #form button");
  buttons.forEach((b) => (b.disabled = true)); // a double click never acts twice
  try {
    const updated = await api(`/api/v1/events/${e.id}/${action}`, { method: "POST", body: { version: e.version, ...body } });
    toast(`${actionName(action)}成功`);
    state.detail = updated;
    drawDetail();
    loadList();
    refreshCounts();
  } catch (err) {
    // said in a toast too: a live update of the event may redraw the detail (and its message) a moment later
    if (err instanceof ApiError && err.status === 409) toast(`${actionName(action)}未执行:${errorText(err)}`, "error");
    if (err instanceof ApiError && err.status === 409 && err.body && err.body.error === "stale_version") {
      drawDetail(`事件已被他人更新(当前版本 ${err.body.current_version}),请<button id="reload">刷新</button>后再操作`);
    } else if (err instanceof ApiError && err.status === 409) {
      drawDetail(`事件已被他人更新,${escapeHtml(errorText(err))};请<button id="reload">刷新</button>后再操作`);
    } else {
      toast(errorText(err), "error");
      buttons.forEach((b) => (b.disabled = false));
    }
  }
}

// --- video wall ------------------------------------------------------------------------------------
function drawWall() {
  const n = state.wallSize;
  const cols = Math.sqrt(n);
  const tiles = $("tiles");
  tiles.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
  tiles.style.gridTemplateRows = `repeat(${cols}, 1fr)`;
  // windows that no longer fit are stopped (each holds a stream) but remembered: a larger wall plays them again
  for (const slot of state.wall.slice(n)) {
    if (!slot) continue;
    slot.player.stop();
    state.parked.push(slot);
  }
  state.wall = state.wall.slice(0, n);
  if (state.parked.length && state.wall.filter(Boolean).length < n) {
    const { camera, name, lookbackAt } = state.parked.shift();
    play(camera, name, { lookbackAt }); // draws the wall again, with one free window fewer
    return;
  }
  tiles.innerHTML = "";
  for (let i = 0; i < n; i++) {
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.dataset.slot = i;
    const slot = state.wall[i];
    if (slot) {
      tile.append(slot.box, slot.label, slot.close);
      tile.dataset.state = slot.player.state;
    } else tile.innerHTML = `<div class="empty">空闲窗口</div>`;
    tiles.append(tile);
  }
  document.querySelectorAll("#sizes button").forEach((b) => b.classList.toggle("on", Number(b.dataset.n) === n));
}

function play(camera, name, { lookbackAt } = {}) {
  let i = state.wall.findIndex((s) => !s);
  if (i < 0) i = state.wall.length < state.wallSize ? state.wall.length : state.wallSize - 1;
  if (state.wall[i]) state.wall[i].player.stop();
  const box = document.createElement("div");
  box.className = "box";
  const label = document.createElement("span");
  label.className = "label";
  const close = document.createElement("button");
  close.className = "x";
  close.textContent = "✕";
  const mode = lookbackAt ? "lookback" : "live";
  const player = new Player(box, { camera, token: token(), mode, t: lookbackAt });
  const slot = { camera, name, lookbackAt, player, box, label, close, mode };
  const show = () => {
    const s = player.state;
    const what = { connecting: "连接中", playing: mode === "lookback" ? "回看" : "实时", fallback: "低带宽画面", error: "无法播放", stopped: "已停止" }[s] || s;
    label.textContent = `${name} · ${what}${player.error ? `(${playerErrorText(player.error)})` : ""}`;
    label.title = player.error ? player.error.message : ""; // the hub's own words, for whoever must fix it
    if (box.parentElement) box.parentElement.dataset.state = s;
  };
  player.addEventListener("state", show);
  close.onclick = () => {
    player.stop();
    state.wall[state.wall.indexOf(slot)] = null;
    drawWall();
  };
  state.wall[i] = slot;
  drawWall();
  show();
  player.start().catch(() => show());
}

// --- live ------------------------------------------------------------------------------------------
let listTimer = null;
function onEventMessage(msg) {
  const d = msg.data || {};
  clearTimeout(listTimer);
  const id = d.event_id;
  listTimer = setTimeout(() => {
    loadList({ flashIds: id ? [id] : [] });
    refreshCounts();
  }, 250);
  if (msg.type === "event.report" && ["urgent", "critical"].includes(d.urgency) && $("sound").checked) beep(d.urgency === "critical" ? 3 : 2);
  if (id && id === state.selected && d.version !== state.detail?.version) select(id, { quiet: true });
}

let audio = null;
function beep(times) {
  try {
    audio = audio || new AudioContext();
    for (let i = 0; i < times; i++) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = 880;
      g.gain.value = 0.15;
      o.connect(g).connect(audio.destination);
      const t = audio.currentTime + i * 0.35;
      o.start(t);
      o.stop(t + 0.2);
    }
    document.body.dataset.beeped = String(Number(document.body.dataset.beeped || 0) + 1);
  } catch (err) { /* no audio device: the list still flashes */ }
}

// --- wiring ----------------------------------------------------------------------------------------
$("views").addEventListener("click", (e) => {
  const b = e.target.closest("[data-view]");
  if (!b) return;
  state.view = b.dataset.view;
  state.page = 1;
  drawViews();
  refreshCounts();
  loadList();
});
$("events").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-id]");
  if (li) select(Number(li.dataset.id));
});
$("detail").addEventListener("click", (e) => {
  const t = e.target;
  if (t.id === "reload") return select(state.selected);
  if (t.id === "playall") return playNearby();
  if (t.dataset.play) return play(Number(t.dataset.play), t.closest("li").dataset.name);
  if (t.dataset.lookback) {
    const at = new Date(new Date(state.detail.created_at).getTime() - 10_000).toISOString();
    return play(Number(t.dataset.lookback), `${t.closest("li").dataset.name} 回看`, { lookbackAt: at });
  }
  if (t.dataset.action) return openAction(t.dataset.action);
});
$("sizes").addEventListener("click", (e) => {
  if (e.target.dataset.n) {
    state.wallSize = Number(e.target.dataset.n);
    drawWall();
  }
});
$("clearwall").onclick = () => {
  state.wall.forEach((s) => s && s.player.stop());
  state.wall = [];
  state.parked = [];
  drawWall();
};
$("prev").onclick = () => { state.page--; loadList(); };
$("next").onclick = () => { state.page++; loadList(); };
for (const id of ["urgency", "source"]) $(id).addEventListener("change", () => { state.page = 1; loadList(); });
let qTimer = null;
$("q").addEventListener("input", () => { clearTimeout(qTimer); qTimer = setTimeout(() => { state.page = 1; loadList(); }, 300); });
$("help").onclick = () => $("helpdlg").showModal();
$("logout").onclick = async () => {
  try { await api("/api/v1/auth/logout", { method: "POST" }); } catch (err) { /* logged out anyway */ }
  setToken(null);
  location.replace("/screens/login");
};
$("analytics").onclick = (e) => {
  e.preventDefault();
  window.open(`/screens/analytics?token=${encodeURIComponent(token())}`, "_blank", "noopener");
};

/** The event's nearby cameras into the wall's free windows: none twice, none that has no video source, and
 * never over a window already playing. */
function playNearby() {
  const live = new Set(state.wall.filter((s) => s && s.mode === "live").map((s) => s.camera));
  const free = state.wall.filter((s) => !s).length + Math.max(0, state.wallSize - state.wall.length);
  const cams = ((state.nearby && state.nearby.cameras) || []).filter((c) => !live.has(c.id) && c.status !== "no_source");
  if (!cams.length) return toast("附近没有尚未播放的可用摄像头");
  if (!free) return toast("视频墙已满:先关闭窗口,或切换为更多分屏", "error");
  cams.slice(0, free).forEach((c) => play(c.id, c.name));
}

function openAction(action) {
  const spec = ACTIONS[action];
  if (!state.detail || !state.detail.allowed_actions.includes(action)) return;
  if (!spec.form) return act(action);
  actionForm($("form"), action, state, (body) => act(action, body));
}

document.addEventListener("keydown", (e) => {
  if (e.target.matches("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
  const idx = state.items.findIndex((x) => x.id === state.selected);
  const key = e.key;
  if (key === "ArrowDown" || key === "j") select(state.items[Math.min(state.items.length - 1, idx + 1)]?.id ?? state.items[0]?.id);
  else if (key === "ArrowUp" || key === "k") select(state.items[Math.max(0, idx - 1)]?.id);
  else if (key === "/") { e.preventDefault(); $("q").focus(); }
  else if (key === "?") $("helpdlg").showModal();
  else if (key === "v") playNearby();
  else if (["1", "4", "9", "6"].includes(key)) { state.wallSize = key === "6" ? 16 : Number(key); drawWall(); }
  else if (DIRECT_KEYS[key] && state.detail?.allowed_actions.includes(DIRECT_KEYS[key][0])) act(...DIRECT_KEYS[key]);
  else {
    const action = Object.entries(ACTIONS).find(([, s]) => s.key === key);
    if (action) openAction(action[0]);
  }
});

async function main() {
  state.me = await api("/api/v1/auth/me");
  $("who").textContent = `${state.me.display_name} · ${state.me.jurisdiction_name}`;
  const wanted = new URLSearchParams(location.search);
  if (wanted.get("view")) state.view = wanted.get("view");
  drawViews();
  drawWall();
  await Promise.all([loadList(), refreshCounts()]);
  const live = new Live({ onState: connectionBadge($("conn")) });
  live.subscribe("events", onEventMessage, () => { loadList(); refreshCounts(); });
  if (wanted.get("event")) await select(Number(wanted.get("event")));
  document.body.dataset.ready = "1";
}

main().catch((err) => toast(errorText(err), "error"));
