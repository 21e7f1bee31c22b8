// gridhub's browser client, shared by every page: the token, the REST API and one live WebSocket.
//
// One socket per page, typed channels (Frigate's web UI does the same): each channel keeps its last
// offset so a reconnect resumes where it stopped; a `reset` tells the page to reload that channel's
// data from the REST API. The connection state is shown to the user (a lost socket says 重连中).

const TOKEN_KEY = "gridhub.token";
const SILENT_MS = 45000;

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

export function loginUrl() {
  return `/screens/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

/** Leave for the login page when there is no token or the server refused it. */
export function requireLogin() {
  if (!token()) {
    location.replace(loginUrl());
    throw new Error("not logged in");
  }
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.detail)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** A response a page's boot script started before the modules ran (see overview-boot.js), taken once. */
function takePrefetched(url) {
  const prefetched = window.gridhubPrefetch;
  const key = url.pathname + url.search;
  if (!prefetched || !prefetched.has(key)) return null;
  const started = prefetched.get(key);
  prefetched.delete(key);
  return started;
}

/** fetch() on the API with the bearer token; JSON in and out; ApiError with the server's message. */
export async function api(path, { method = "GET", body, params } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Authorization: `Bearer ${token()}` };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const prefetched = method === "GET" ? takePrefetched(url) : null;
  const r = await (prefetched || fetch(url, { method, headers, body: payload }));
  if (r.status === 401) {
    setToken(null);
    location.replace(loginUrl());
    throw new ApiError(401, { message: "登录已失效,请重新登录" });
  }
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** The page's one WebSocket: subscribe(channel, handler, onReset); resumes from offsets after a drop. */
export class Live {
  constructor({ onState } = {}) {
    this.handlers = new Map(); // channel → {onMessage, onReset}
    this.offsets = new Map(); // channel → last offset seen
    this.onState = onState || (() => {});
    this.backoff = 250;
    this.ws = null;
    this.closed = false;
    this.lastHeard = Date.now();
    this.connect();
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && (!this.ws || this.ws.readyState > 1)) this.connect();
    });
    // The phone says its network is gone: stop trusting the socket now, not after TCP gives up.
    addEventListener("offline", () => this.drop("offline"));
    addEventListener("online", () => this.connect());
    // The server pings every 20 s: a socket silent for longer than SILENT_MS is dead (a 4G dead zone).
    setInterval(() => {
      if (this.ws && this.ws.readyState === 1 && Date.now() - this.lastHeard > SILENT_MS) this.drop("silent");
    }, 5000);
  }

  /** Treat the socket as lost: close it and reconnect with back-off. */
  drop(reason) {
    const ws = this.ws;
    if (!ws || ws.readyState > 1) return;
    this.ws = null;
    ws.onclose = null;
    try { ws.close(4000, reason); } catch { /* already gone */ }
    this.onState("reconnecting");
    this.retry();
  }

  retry() {
    clearTimeout(this.retryTimer);
    const wait = this.backoff * (0.5 + Math.random());
    this.backoff = Math.min(this.backoff * 2, 8000);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  connect() {
    if (this.ws && this.ws.readyState <= 1) return;
    clearTimeout(this.retryTimer);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token())}`);
    this.ws = ws;
    this.onState(this.everConnected ? "reconnecting" : "connecting");
    ws.onopen = () => {
      this.lastHeard = Date.now();
      this.backoff = 250;
      this.everConnected = true;
      this.onState("online");
      for (const channel of this.handlers.keys()) this.sendSubscribe(channel);
    };
    ws.onmessage = (e) => {
      this.lastHeard = Date.now();
      this.receive(JSON.parse(e.data));
    };
    ws.onclose = (e) => {
      if (this.ws !== ws || this.closed) return;
      this.ws = null;
      if (e.code === 4001) {
        setToken(null);
        location.replace(loginUrl());
        return;
      }
      this.onState("reconnecting");
      this.retry();
    };
  }

  sendSubscribe(channel) {
    if (!this.ws || this.ws.readyState !== 1) return;
    const msg = { op: "subscribe", channel };
    if (this.offsets.has(channel)) msg.since = this.offsets.get(channel);
    this.ws.send(JSON.stringify(msg));
  }

  subscribe(channel, onMessage, onReset) {
    this.handlers.set(channel, { onMessage, onReset });
    this.sendSubscribe(channel);
  }

  ack(channel, offset) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ op: "ack", channel, offset }));
  }

  receive(msg) {
    if (msg.type === "ping") {
      if (this.ws.readyState === 1) this.ws.send(JSON.stringify({ op: "pong" }));
      return;
    }
    const h = this.handlers.get(msg.channel);
    if (!h) return;
    if (msg.type === "reset") {
      this.offsets.delete(msg.channel);
      if (typeof msg.offset === "number") this.offsets.set(msg.channel, msg.offset);
      if (h.onReset) h.onReset(msg);
      return;
    }
    if (typeof msg.offset === "number") {
      const last = this.offsets.get(msg.channel);
      const seen = last !== undefined && msg.offset <= last && !msg.channel.startsWith("screen:");
      // A dispatch is re-sent until acknowledged: hand it on again so that it is acknowledged again.
      if (seen && !msg.channel.startsWith("dispatch:")) return;
      if (!seen) this.offsets.set(msg.channel, msg.offset);
    }
    if (msg.type === "error" || msg.type === "subscribed" || msg.type === "epoch" || msg.type === "pong") return;
    h.onMessage(msg);
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }
}

/** Shows the connection state in an element: 实时 / 连接中 / 重连中. */
export function connectionBadge(el) {
  const text = { online: "实时", connecting: "连接中…", reconnecting: "网络中断,重连中…" };
  return (state) => {
    el.textContent = text[state] || state;
    el.dataset.state = state;
  };
}

/** A time as the console and the phone show it: month/day hour:minute, in the browser's zone ("" for none). */
export const fmt = (iso) => (iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }) : "");

export function escapeHtml(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export const STATE_NAMES = {
  pending: "待受理",
  rejected: "不予受理",
  accepted: "待交办",
  assigned: "待签收",
  in_progress: "办理中",
  pending_verify: "待核查",
  closed: "已办结",
};

export const WARNING_NAMES = { none: "正常", yellow: "预警", red: "超期" };

/** A camera's status as people read it; `online` says nothing (it is the normal case). */
export const CAMERA_STATES = { connecting: "连接中", offline: "离线", error: "故障", no_source: "未接入" };
export const LEVEL_NAMES = { county: "县区", town: "镇街", village: "村社", grid: "网格" };
