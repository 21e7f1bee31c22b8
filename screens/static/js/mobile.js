// 网格员手机页: 待办, 消息 (dispatches pushed on dispatch:{me}), 签收 / 处置 with photos / 延期申请 /
// 退回, and 上报 with the phone's position. Made for a weak 4G link: a dispatch is kept on the phone
// before it is acknowledged, the socket resumes from its last offset after a drop, and the server
// re-sends whatever was not acknowledged, so nothing is missed.

import { api, ApiError, connectionBadge, escapeHtml, fmt, Live, requireLogin, STATE_NAMES, token, WARNING_NAMES } from "/static/js/gridhub.js";

requireLogin();

const $ = (id) => document.getElementById(id);
const TYPE_NAMES = {
  "dispatch.assigned": "新的交办",
  "dispatch.urged": "催办",
  "dispatch.verify_failed": "核查未通过,请重新处置",
  "dispatch.extension_decided": "延期审批结果",
  "dispatch.revoked": "事件已改派他人",
};
/** A message's headline: its kind, and for an extension whether it was granted. */
function headline(type, data) {
  const change = data.change || {};
  if (type === "dispatch.extension_decided" && "approved" in change) {
    return change.approved ? `延期已同意(新时限 ${fmt(change.until)})` : "延期未同意,请按原时限处置";
  }
  return TYPE_NAMES[type] || "新消息";
}
let me = null;
let position = null;

function toast(text) {
  const el = document.createElement("div");
  el.className = "toast";
  el.textContent = text;
  document.body.append(el);
  setTimeout(() => el.remove(), 2500);
}

/** A file the phone could not read as a picture (refused before anything is sent). */
class NotAPhoto extends Error {}

function errorText(err) {
  if (err instanceof NotAPhoto) return `只能上传照片(${err.message} 不是图片)`;
  if (!(err instanceof ApiError)) return "网络不佳,请稍后重试";
  const body = err.body || {};
  const known = { stale_version: "事件已被他人更新,已为您刷新", illegal_transition: "事件状态已变化,该操作不可执行", payload_too_large: "照片过大", unsupported_media_type: "只能上传照片" }[body.error];
  return known ? `${known}(${body.message || ""})` : `操作失败:${body.message || err.message}`;
}

// --- messages: kept on the phone, acknowledged once kept -------------------------------------------
const store = {
  key: () => `gridhub.msgs.${me.id}`,
  load() { try { return JSON.parse(localStorage.getItem(this.key()) || "[]"); } catch { return []; } },
  save(list) { localStorage.setItem(this.key(), JSON.stringify(list.slice(0, 200))); },
};

function drawMessages() {
  const list = store.load();
  $("msgs").innerHTML = list.map((m) => `<li class="${m.read ? "" : "unread"}" data-event="${m.data.event_id}" data-offset="${m.offset}">
    <b>${escapeHtml(headline(m.type, m.data))}:${escapeHtml(m.data.title)}</b>
    <div class="m"><span>${fmt(m.data.at || m.ts)}</span>${m.data.deadline_at ? `<span>时限 ${fmt(m.data.deadline_at)}</span>` : ""}</div></li>`).join("");
  $("msgsempty").hidden = list.length > 0;
  const unread = list.filter((m) => !m.read).length;
  $("msgcount").textContent = unread ? String(unread) : "";
}

function onDispatch(msg, live) {
  const list = store.load();
  if (!list.some((m) => m.offset === msg.offset)) {
    list.unshift({ offset: msg.offset, type: msg.type, data: msg.data, ts: msg.ts, read: false });
    store.save(list);
    alertUser(msg);
  }
  live.ack(msg.channel, msg.offset); // kept on the phone: the server may forget it now
  drawMessages();
  loadTodo();
}

let audio = null;
function alertUser(msg) {
  const text = `${headline(msg.type, msg.data)}:${msg.data.title}`;
  const banner = $("banner");
  banner.textContent = text;
  banner.hidden = false;
  banner.onclick = () => { banner.hidden = true; openEvent(msg.data.event_id); };
  setTimeout(() => (banner.hidden = true), 15000);
  if (navigator.vibrate) navigator.vibrate([300, 120, 300]);
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator();
    o.frequency.value = 988;
    o.connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.25);
  } catch { /* no sound allowed yet */ }
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    new Notification("gridhub 网格员", { body: text, tag: `event-${msg.data.event_id}` });
  }
  document.body.dataset.alerts = String(Number(document.body.dataset.alerts || 0) + 1);
}

// --- 待办 ------------------------------------------------------------------------------------------
async function loadTodo() {
  try {
    const page = await api("/api/v1/events", { params: { view: "my_todo", page_size: 100 } });
    $("todo").innerHTML = page.items.map((e) => `<li data-event="${e.id}"><b>${escapeHtml(e.title)}</b>
      <div class="m"><span>${STATE_NAMES[e.state]}</span>${e.warning !== "none" ? `<span class="w-${e.warning}">${WARNING_NAMES[e.warning]}</span>` : ""}
      <span>时限 ${fmt(e.deadline_at)}</span></div></li>`).join("");
    $("todoempty").hidden = page.items.length > 0;
    $("todocount").textContent = page.total ? String(page.total) : "";
  } catch (err) {
    if (!(err instanceof ApiError)) return; // offline: keep what is shown
    toast(errorText(err));
  }
}

async function openEvent(id) {
  const list = store.load();
  list.forEach((m) => { if (m.data.event_id === id) m.read = true; });
  store.save(list);
  drawMessages();
  let e;
  try {
    e = await api(`/api/v1/events/${id}`);
  } catch (err) {
    toast(err instanceof ApiError && err.status === 404 ? "该事件已不在您的待办中" : errorText(err));
    return;
  }
  const sheet = $("sheet");
  const photos = (e.media || []).filter((m) => (m.content_type || "").startsWith("image/"));
  const can = (a) => e.allowed_actions.includes(a);
  sheet.innerHTML = `<button class="back" id="back">‹ 返回</button>
    <h2>${escapeHtml(e.title)}</h2>
    <dl><dt>状态</dt><dd>${STATE_NAMES[e.state]} ${e.warning !== "none" ? `<span class="w-${e.warning}">${WARNING_NAMES[e.warning]}</span>` : ""}</dd>
      <dt>时限</dt><dd>${fmt(e.deadline_at) || "—"}</dd><dt>地点</dt><dd>${escapeHtml([e.place_name, e.address].filter(Boolean).join(" · ") || e.grid_code || "")}</dd>
      <dt>描述</dt><dd>${escapeHtml(e.description)}</dd></dl>
    ${photos.length ? `<div class="thumbs">${photos.map((m) => `<img src="${m.url}?token=${encodeURIComponent(token())}" alt="照片">`).join("")}</div>` : ""}
    <div class="btns">
      ${can("sign") ? `<button data-do="sign" class="primary">签收</button>` : ""}
      ${can("handle") ? `<button data-do="handle" class="primary">处置完毕</button>` : ""}
      ${can("extend") ? `<button data-do="extend">延期申请</button>` : ""}
      ${can("return") ? `<button data-do="return">退回</button>` : ""}
      ${can("comment") ? `<button data-do="comment">备注</button>` : ""}
    </div><div id="sheetform"></div>`;
  sheet.hidden = false;
  $("back").onclick = () => { sheet.hidden = true; };
  sheet.querySelectorAll("[data-do]").forEach((b) => (b.onclick = () => startAction(e, b.dataset.do)));
}

function startAction(e, action) {
  if (action === "sign") return act(e, "sign", {});
  const host = $("sheetform");
  const fields = {
    handle: `<label>处置结果<textarea name="result" rows="3" required minlength="2" placeholder="例如:已清理完毕"></textarea></label>
      <label>现场照片<input type="file" name="photos" accept="image/*" capture="environment" multiple></label>`,
    extend: `<label>延期至<input type="datetime-local" name="until" required></label><label>理由<textarea name="reason" rows="2" required minlength="2"></textarea></label>`,
    return: `<label>退回理由<textarea name="reason" rows="2" required minlength="2"></textarea></label>`,
    comment: `<label>备注<textarea name="note" rows="2" required></textarea></label>`,
  }[action];
  host.innerHTML = `<form class="sheetform" id="actform">${fields}<button type="submit" class="primary">提交</button><p class="error" id="acterror"></p></form>`;
  $("actform").onsubmit = async (ev) => {
    ev.preventDefault();
    const fd = new FormData(ev.target);
    const body = {};
    for (const [k, v] of fd.entries()) {
      if (k === "photos" || v === "") continue;
      body[k] = k === "until" ? new Date(v).toISOString() : v;
    }
    const button = ev.target.querySelector("button");
    button.disabled = true;
    try {
      const photos = await preparePhotos(fd.getAll("photos") || []);
      const total = photos.length;
      if (total) body.attachments = await uploadPhotos(e.id, photos, (n) => (button.textContent = `上传照片 ${n}/${total}…`));
      await act(e, action, body);
    } catch (err) {
      $("acterror").textContent = errorText(err);
    } finally {
      button.disabled = false;
      button.textContent = "提交";
    }
  };
}

/** Photos are made small on the phone (≤1280 px JPEG) before they travel over 4G; a file that is not a
 * picture is refused here, before anything is sent or filed. */
async function shrink(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new NotAPhoto(file.name);
  }
  const scale = Math.min(1, 1280 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
}

/** The chosen files as small JPEGs [{name, blob}], all read before any is sent (NotAPhoto for the first that
 * is not a picture). */
async function preparePhotos(files) {
  const photos = [];
  for (const file of files) {
    if (file && file.size) photos.push({ name: file.name.slice(0, 200), blob: await shrink(file) });
  }
  return photos;
}

/** Uploads prepared photos; each one sent is taken off `photos`, so a retry sends only the rest. */
async function uploadPhotos(eventId, photos, progress) {
  const attachments = [];
  let n = 0;
  while (photos.length) {
    progress(++n);
    const { name, blob } = photos[0];
    const r = await fetch(`/api/v1/events/${eventId}/media`, { method: "POST", headers: { Authorization: `Bearer ${token()}`, "Content-Type": "image/jpeg" }, body: blob });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new ApiError(r.status, data);
    photos.shift();
    attachments.push({ url: data.url, kind: "photo", name });
  }
  return attachments;
}

async function act(e, action, body) {
  const buttons = $("sheet").querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true)); // a double tap never acts twice
  try {
    await api(`/api/v1/events/${e.id}/${action}`, { method: "POST", body: { version: e.version, ...body } });
    toast({ sign: "已签收", handle: "已提交处置结果", extend: "已提交延期申请", return: "已退回", comment: "已备注" }[action] || "已完成");
    await openEvent(e.id);
    loadTodo();
  } catch (err) {
    toast(errorText(err));
    if (err instanceof ApiError && err.status === 409) await openEvent(e.id);
    else buttons.forEach((b) => (b.disabled = false));
  }
}

// --- 上报 ------------------------------------------------------------------------------------------
async function loadCategories() {
  const tree = await api("/api/v1/categories");
  $("category").innerHTML = tree.map((major) => `<optgroup label="${escapeHtml(major.name)}">${major.minors
    .flatMap((minor) => minor.items.map((item) => `<option value="${item.code}">${escapeHtml(minor.name)} · ${escapeHtml(item.name)}</option>`))
    .join("")}</optgroup>`).join("");
}

function locate() {
  if (!navigator.geolocation) {
    $("pos").textContent = "无法定位:将按您所在网格上报";
    return;
  }
  navigator.geolocation.getCurrentPosition(
    (p) => {
      position = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy };
      $("pos").textContent = `位置:${position.lat.toFixed(5)}, ${position.lon.toFixed(5)}(±${Math.round(position.accuracy_m)} 米)`;
      api("/api/v1/me/position", { method: "PUT", body: position }).catch(() => {});
    },
    () => { $("pos").textContent = "未获得定位权限:将按您所在网格上报"; },
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 },
  );
}

/** An event filed whose photos did not all go up: the next tap sends only those photos to it, never a second event. */
let filed = null; // {id, photos}

$("reportform").onsubmit = async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const fd = new FormData(form);
  const button = $("reportbtn");
  const progress = (n) => (button.textContent = `上传照片 ${n}…`);
  button.disabled = true;
  $("reporterror").textContent = "";
  try {
    if (!filed) {
      const photos = await preparePhotos(fd.getAll("photos")); // a file that is no picture stops here, nothing filed
      const body = { title: fd.get("title"), category_code: fd.get("category_code"), urgency: fd.get("urgency"), description: fd.get("description") || "" };
      if (position) Object.assign(body, { lat: position.lat, lon: position.lon });
      else body.grid_code = me.jurisdiction_code;
      const event = await api("/api/v1/events", { method: "POST", body });
      filed = { id: event.id, photos };
    }
    await uploadPhotos(filed.id, filed.photos, progress);
    toast(`已上报,事件编号 ${filed.id}`);
    filed = null;
    form.reset();
  } catch (err) {
    $("reporterror").textContent = filed ? `事件已上报(编号 ${filed.id}),还有 ${filed.photos.length} 张照片未上传:${errorText(err)}。再点一次只补传照片` : errorText(err);
  } finally {
    button.disabled = false;
    button.textContent = filed ? `补传照片(事件 ${filed.id})` : "上报事件";
  }
};

// --- tabs and start --------------------------------------------------------------------------------
document.querySelector(".tabs").addEventListener("click", (e) => {
  const b = e.target.closest("[data-tab]");
  if (!b) return;
  document.querySelectorAll(".tabs button").forEach((x) => x.classList.toggle("on", x === b));
  for (const tab of ["todo", "msgs", "report"]) $(`tab-${tab}`).hidden = tab !== b.dataset.tab;
  if (b.dataset.tab === "report") locate();
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
});
$("todo").addEventListener("click", (e) => { const li = e.target.closest("[data-event]"); if (li) openEvent(Number(li.dataset.event)); });
$("msgs").addEventListener("click", (e) => { const li = e.target.closest("[data-event]"); if (li) openEvent(Number(li.dataset.event)); });

async function main() {
  me = await api("/api/v1/auth/me");
  $("who").textContent = `${me.display_name} · ${me.jurisdiction_name}`;
  drawMessages();
  await Promise.all([loadTodo(), loadCategories()]);
  const channel = `dispatch:${me.id}`;
  const live = new Live({
    onState: (s) => {
      connectionBadge($("conn"))(s);
      if (s === "online") loadTodo(); // whatever changed while offline
    },
  });
  live.subscribe(channel, (msg) => onDispatch(msg, live), () => loadTodo());
  setInterval(() => { if (!document.hidden) locate(); }, 120000);
  locate();
  document.body.dataset.ready = "1";
}

main().catch((err) => toast(errorText(err)));
