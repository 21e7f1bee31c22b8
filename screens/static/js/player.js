// gridhub's camera player: WebRTC live first, MJPEG per tile when WebRTC cannot play, and lookback of
// a recorded segment from a given second. A plain ES module, no dependencies.
//
//   import { Player } from "/static/js/player.js";
//   const p = new Player(tileElement, { camera: 12, token, mode: "live" });
//   p.addEventListener("state", (e) => console.log(e.detail));   // {state, mode, error, frames}
//   await p.start();  …  p.stop();
//
// MJPEG goes over a WebSocket by default (`mjpegTransport: "http"` for the multipart <img>).
// States: idle → connecting → playing; `fallback` (live became MJPEG, `error.type` says why),
// `error` (nothing can play: `error.type`/`message`), `stopped`. Error types: startup_timeout, stalled,
// ice_failed, http (with `status` and the hub's `code`), unsupported, no_recording.
// `frames` counts decoded frames (requestVideoFrameCallback) or, for MJPEG, pictures seen to change.

export class PlayerError extends Error {
  constructor(type, message, extra = {}) {
    super(message);
    this.name = "PlayerError";
    this.type = type;
    Object.assign(this, extra);
  }
  toJSON() {
    return { type: this.type, message: this.message, status: this.status, code: this.code };
  }
}

/** What a person watching is told of a PlayerError, in Chinese (the hub's own message stays in `message`). */
export function playerErrorText(error) {
  if (!error) return "";
  const byCode = { camera_unavailable: "摄像头离线或未接入视频源", too_many_viewers: "观看人数已满,请稍后再试", not_found: "摄像头不存在或已删除", unauthorized: "登录已失效,请重新登录" };
  const byStatus = { 503: byCode.camera_unavailable, 429: byCode.too_many_viewers, 404: byCode.not_found, 401: byCode.unauthorized, 403: "无权查看该摄像头" };
  switch (error.type) {
    case "http":
      return byCode[error.code] || byStatus[error.status] || "视频服务暂时不可用";
    case "no_recording":
      return "该时段没有录像";
    case "unsupported":
      return "此浏览器无法播放该视频";
    case "ice_failed":
      return "实时连接未建立,改用低带宽画面";
    case "startup_timeout":
    case "stalled":
      return "画面中断,正在重试";
    default:
      return "无法播放";
  }
}

const DEFAULTS = {
  base: "",
  mode: "live", // live | mjpeg | lookback
  startupTimeoutMs: 5000, // no first frame by then: startup_timeout
  stallTimeoutMs: 6000, // no new frame for this long while playing: stalled
  iceGatherTimeoutMs: 2000,
  fallback: true, // live falls back to MJPEG on startup_timeout, stalled, ice_failed, 422/429
  mjpegFps: 5,
  mjpegQuality: 70,
  mjpegTransport: "ws", // ws: JPEG messages on a WebSocket (no per-host connection limit); http: <img> multipart
  iceServers: [],
};

export class Player extends EventTarget {
  constructor(container, options) {
    super();
    this.container = container;
    this.opts = { ...DEFAULTS, ...options };
    if (!this.opts.camera) throw new Error("Player needs a camera id");
    this.state = "idle";
    this.mode = this.opts.mode;
    this.error = null;
    this.frames = 0;
    this.firstFrameMs = null;
    this.sessionId = null;
    this._pc = null;
    this._timer = null;
    this._gen = 0; // bumps on every (re)start: callbacks of an older attempt are ignored
    this._onPageHide = () => this._closeSession(true);
  }

  // ---- public ---------------------------------------------------------------------------------
  async start() {
    this.stop(false);
    const gen = ++this._gen;
    this.error = null;
    this._startedAt = performance.now();
    this.timings = {};
    window.addEventListener("pagehide", this._onPageHide);
    try {
      if (this.opts.mode === "lookback") await this._lookback(gen);
      else if (this.opts.mode === "mjpeg") await this._mjpeg(gen);
      else await this._webrtc(gen);
    } catch (err) {
      if (gen === this._gen) this._fail(err);
    }
  }

  stop(report = true) {
    this._gen++;
    clearInterval(this._timer);
    this._timer = null;
    window.removeEventListener("pagehide", this._onPageHide);
    this._closeSession(false);
    if (this._pc) this._pc.close();
    this._pc = null;
    if (this._ws) {
      this._ws.onclose = null;
      this._ws.close();
    }
    this._ws = null;
    if (this._media) {
      if (this._media.tagName === "VIDEO") {
        this._media.srcObject = null;
        this._media.removeAttribute("src");
        this._media.load();
      } else this._media.removeAttribute("src");
      this._media.remove();
    }
    this._media = null;
    if (report) this._set("stopped");
  }

  info() {
    return {
      state: this.state,
      mode: this.mode,
      transport: this.mode === "mjpeg" ? this.transport : undefined,
      error: this.error ? this.error.toJSON() : null,
      frames: this.frames,
      firstFrameMs: this.firstFrameMs,
      timings: this.timings,
      sessionId: this.sessionId,
    };
  }

  /** The element showing the picture (<video> or <img>), e.g. to draw it on a canvas. */
  get media() {
    return this._media;
  }

  // ---- state ----------------------------------------------------------------------------------
  _set(state) {
    this.state = state;
    this.container.dataset.state = state;
    this.container.dataset.mode = this.mode;
    this.dispatchEvent(new CustomEvent("state", { detail: this.info() }));
  }

  _fail(err) {
    const error = err instanceof PlayerError ? err : new PlayerError("unsupported", String(err && err.message ? err.message : err));
    this.error = error;
    const canFallBack =
      this.mode === "live" &&
      this.opts.fallback &&
      (["startup_timeout", "stalled", "ice_failed", "unsupported"].includes(error.type) ||
        (error.type === "http" && [422, 429].includes(error.status)));
    if (canFallBack) {
      this.stop(false);
      const gen = ++this._gen;
      this.error = error;
      this._startedAt = performance.now();
      window.addEventListener("pagehide", this._onPageHide);
      this._mjpeg(gen, "fallback").catch((e) => {
        if (gen === this._gen) this._fail(e);
      });
      return;
    }
    this.stop(false);
    this.error = error;
    this._set("error");
  }

  _mark(name) {
    if (this.timings && !(name in this.timings)) this.timings[name] = Math.round(performance.now() - this._clickAt());
  }

  _frame() {
    if (this.frames === 0 && this.segment && this._media) this.segment.firstFrameAt = this._media.currentTime;
    this._mark("frame");
    this.frames++;
    this._lastFrameAt = performance.now();
    if (this.firstFrameMs === null) this.firstFrameMs = Math.round(this._lastFrameAt - this._clickAt());
    if (this.state === "connecting") this._set("playing");
  }

  _clickAt() {
    return this.opts.clickedAt ?? this._startedAt;
  }

  _watch(gen, { stall = true } = {}) {
    this._lastFrameAt = null;
    const started = performance.now();
    this._timer = setInterval(() => {
      if (gen !== this._gen) return;
      const now = performance.now();
      if (this._lastFrameAt === null) {
        if (now - started > this.opts.startupTimeoutMs)
          this._fail(new PlayerError("startup_timeout", `no picture within ${this.opts.startupTimeoutMs} ms`));
      } else if (stall && now - this._lastFrameAt > this.opts.stallTimeoutMs) {
        this._fail(new PlayerError("stalled", `no new picture for ${this.opts.stallTimeoutMs} ms`));
      }
    }, 250);
  }

  _url(path, params = {}) {
    const url = new URL(this.opts.base + path, location.href);
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) url.searchParams.set(k, v);
    return url.toString();
  }

  async _http(path, init = {}) {
    const headers = { ...(init.headers || {}) };
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    const r = await fetch(this._url(path), { ...init, headers });
    if (!r.ok) {
      let body = {};
      try {
        body = await r.json();
      } catch (_) {}
      throw new PlayerError("http", body.message || `HTTP ${r.status}`, { status: r.status, code: body.error, body });
    }
    return r.status === 204 ? null : r.json();
  }

  _video() {
    const v = document.createElement("video");
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.className = "gh-player-media";
    this.container.replaceChildren(v);
    this._media = v;
    return v;
  }

  _countVideoFrames(gen, video) {
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
      const tick = () => {
        if (gen !== this._gen) return;
        this._frame();
        video.requestVideoFrameCallback(tick);
      };
      video.requestVideoFrameCallback(tick);
    } else {
      let last = -1;
      const poll = () => {
        if (gen !== this._gen) return;
        if (video.currentTime !== last && video.readyState >= 2) {
          last = video.currentTime;
          this._frame();
        }
        requestAnimationFrame(poll);
      };
      requestAnimationFrame(poll);
    }
  }

  // ---- WebRTC ---------------------------------------------------------------------------------
  async _webrtc(gen) {
    this.mode = "live";
    this._set("connecting");
    if (typeof RTCPeerConnection === "undefined") throw new PlayerError("unsupported", "this browser has no WebRTC");
    const video = this._video();
    const pc = new RTCPeerConnection({ iceServers: this.opts.iceServers });
    this._pc = pc;
    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    const caps = RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video");
    if (caps) {
      const h264 = caps.codecs.filter((c) => /h264|rtx/i.test(c.mimeType));
      if (!h264.some((c) => /h264/i.test(c.mimeType))) throw new PlayerError("unsupported", "this browser cannot decode H.264");
      if (transceiver.setCodecPreferences) transceiver.setCodecPreferences(h264);
    }
    pc.ontrack = (e) => {
      this._mark("track");
      video.srcObject = e.streams && e.streams[0] ? e.streams[0] : new MediaStream([e.track]);
      video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (gen !== this._gen) return;
      this._mark(pc.connectionState);
      if (pc.connectionState === "failed") this._fail(new PlayerError("ice_failed", "the connection to the hub failed (ICE)"));
    };
    pc.oniceconnectionstatechange = () => {
      if (gen !== this._gen) return;
      if (pc.iceConnectionState === "failed") this._fail(new PlayerError("ice_failed", "ICE failed"));
    };
    this._countVideoFrames(gen, video);
    this._watch(gen);
    await pc.setLocalDescription(await pc.createOffer());
    await this._gathered(pc);
    this._mark("gathered");
    if (gen !== this._gen) return;
    const answer = await this._http(`/api/v1/cameras/${this.opts.camera}/webrtc`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" }),
    });
    if (gen !== this._gen) {
      this.sessionId = answer.session_id;
      this._closeSession(false);
      return;
    }
    this.sessionId = answer.session_id;
    this._mark("answered");
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
  }

  _gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      };
      const check = () => pc.iceGatheringState === "complete" && done();
      const timer = setTimeout(done, this.opts.iceGatherTimeoutMs);
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  _closeSession(unloading) {
    if (!this.sessionId) return;
    const path = `/api/v1/cameras/${this.opts.camera}/webrtc/${encodeURIComponent(this.sessionId)}`;
    this.sessionId = null;
    const headers = this.opts.token ? { Authorization: `Bearer ${this.opts.token}` } : {};
    fetch(this._url(path), { method: "DELETE", headers, keepalive: unloading }).catch(() => {});
  }

  // ---- MJPEG ----------------------------------------------------------------------------------
  async _mjpeg(gen, state = "connecting") {
    this.mode = "mjpeg";
    if (this.opts.mjpegTransport !== "http" && typeof WebSocket !== "undefined") return this._jpegSocket(gen, state);
    this._set(state);
    this.transport = "http";
    const img = document.createElement("img");
    img.className = "gh-player-media";
    img.alt = "";
    this.container.replaceChildren(img);
    this._media = img;
    const src = this._url(`/api/v1/cameras/${this.opts.camera}/live.mjpeg`, {
      token: this.opts.token,
      fps: this.opts.mjpegFps,
      quality: this.opts.mjpegQuality,
    });
    img.onerror = async () => {
      if (gen !== this._gen) return;
      // An <img> does not say why: ask once with fetch for the hub's typed refusal.
      try {
        const r = await fetch(src);
        if (!r.ok) {
          const body = await r.json().catch(() => ({}));
          throw new PlayerError("http", body.message || `HTTP ${r.status}`, { status: r.status, code: body.error, body });
        }
        r.body && r.body.cancel();
        throw new PlayerError("stalled", "the MJPEG stream ended");
      } catch (err) {
        if (gen === this._gen) this._fail(err);
      }
    };
    // MJPEG has no per-picture event after the first: sample a few pixels to see pictures change.
    const canvas = document.createElement("canvas");
    canvas.width = 32;
    canvas.height = 24;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    let last = null;
    const sample = () => {
      if (gen !== this._gen) return;
      if (img.complete && img.naturalWidth) {
        ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
        const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let sum = 0;
        for (let i = 0; i < data.length; i += 4) sum = (sum * 31 + data[i] + data[i + 1] * 7 + data[i + 2] * 13) % 2147483647;
        if (sum !== last) {
          last = sum;
          this._frame();
        }
      }
      setTimeout(sample, Math.max(50, 500 / this.opts.mjpegFps));
    };
    this._watch(gen, { stall: false }); // a still scene sends identical pictures: only startup is timed
    img.src = src;
    sample();
  }

  // JPEGs as WebSocket messages: a browser opens only six HTTP/1.1 connections per host, so a wall of
  // MJPEG <img> tiles stalls after the sixth; WebSockets have no such limit.
  async _jpegSocket(gen, state) {
    this.transport = "ws";
    this._set(state);
    const img = document.createElement("img");
    img.className = "gh-player-media";
    img.alt = "";
    this.container.replaceChildren(img);
    this._media = img;
    const url = new URL(this._url(`/api/v1/cameras/${this.opts.camera}/live.ws`, {
      token: this.opts.token,
      fps: this.opts.mjpegFps,
      quality: this.opts.mjpegQuality,
    }));
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    ws.binaryType = "blob";
    this._ws = ws;
    let shown = null;
    ws.onmessage = (e) => {
      if (gen !== this._gen) return;
      const next = URL.createObjectURL(e.data);
      img.onload = () => {
        if (shown) URL.revokeObjectURL(shown);
        shown = next;
        if (gen === this._gen) this._frame();
      };
      img.src = next;
    };
    ws.onclose = (e) => {
      if (gen !== this._gen) return;
      const status = e.code >= 4000 && e.code < 5000 ? e.code - 4000 : 0;
      const code = { 401: "unauthorized", 404: "not_found", 429: "too_many_viewers", 503: "camera_unavailable" }[status];
      this._fail(
        status
          ? new PlayerError("http", e.reason || `refused (${status})`, { status, code })
          : new PlayerError("stalled", "the picture stream closed"),
      );
    };
    this._watch(gen, { stall: true });
  }

  // ---- lookback -------------------------------------------------------------------------------
  async _lookback(gen) {
    this.mode = "lookback";
    this._set("connecting");
    const at = toSeconds(this.opts.t);
    if (at === null) throw new PlayerError("no_recording", "lookback needs a time t");
    const span = this.opts.windowS ?? 600;
    const list = await this._http(
      `/api/v1/cameras/${this.opts.camera}/recordings?` +
        new URLSearchParams({ start: isoOf(at - span), end: isoOf(at + span) }).toString(),
    );
    if (gen !== this._gen) return;
    const items = (list.items || list || []).map((it) => ({ ...it, s: toSeconds(it.start), e: toSeconds(it.end) }));
    // the segment covering t (a finished one first: the one being written may not be playable yet),
    // else the first one after t
    const covering = items.filter((it) => it.s !== null && it.e !== null && it.s <= at && at < it.e);
    const item =
      covering.find((it) => it.complete !== false) ||
      covering[0] ||
      items.filter((it) => it.s !== null && it.s >= at).sort((a, b) => a.s - b.s)[0];
    if (!item || !item.url) throw new PlayerError("no_recording", "no recording covers that time");
    const video = this._video();
    video.controls = true;
    // no autoplay: the element would present the segment's first picture before the seek lands
    video.autoplay = false;
    const src = new URL(item.url, new URL(this.opts.base || "/", location.href));
    if (this.opts.token && !src.searchParams.has("token")) src.searchParams.set("token", this.opts.token);
    this.segment = { start: item.start, end: item.end, url: item.url, offset: Math.max(0, at - item.s) };
    // the media fragment makes the browser start loading at the offset; the explicit seek below is
    // what counts (a fragment past the end is ignored), and pictures are counted only once it landed
    src.hash = `t=${this.segment.offset.toFixed(3)}`;
    let started = false;
    const start = () => {
      if (started || gen !== this._gen) return;
      started = true;
      this._countVideoFrames(gen, video);
      video.play().catch(() => {});
    };
    video.addEventListener(
      "loadedmetadata",
      () => {
        if (gen !== this._gen) return;
        const target = Math.min(this.segment.offset, Math.max(0, (video.duration || 0) - 0.1));
        if (Math.abs(video.currentTime - target) < 0.05 && !video.seeking) {
          start();
          return;
        }
        video.addEventListener("seeked", start, { once: true });
        video.currentTime = target;
      },
      { once: true },
    );
    video.addEventListener("error", () => {
      if (gen !== this._gen) return;
      const code = video.error ? video.error.code : 0;
      this._fail(new PlayerError("http", `the recording cannot be played (media error ${code})`, { status: 0 }));
    });
    video.addEventListener("ended", () => gen === this._gen && this._set("ended"));
    this._watch(gen, { stall: false });
    video.src = src.toString();
  }
}

/** Seconds since the epoch from a number (seconds or ms), an ISO string or a Date; null if none. */
export function toSeconds(t) {
  if (t === undefined || t === null || t === "") return null;
  if (t instanceof Date) return t.getTime() / 1000;
  if (typeof t === "number" || /^\d+(\.\d+)?$/.test(String(t))) {
    const n = Number(t);
    return n > 1e11 ? n / 1000 : n;
  }
  const ms = Date.parse(String(t));
  return Number.isNaN(ms) ? null : ms / 1000;
}

function isoOf(seconds) {
  return new Date(seconds * 1000).toISOString();
}
