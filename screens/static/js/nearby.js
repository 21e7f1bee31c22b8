// 周边资源: the panel a map opens on a point — cameras (click: play), responders (name, distance, phone
// when the account may see it), command rooms and open events around it, from GET /api/v1/nearby.
// The maps draw the search circle; this module owns the search, the radius and the list.

import { api, CAMERA_STATES, escapeHtml, LEVEL_NAMES, STATE_NAMES, WARNING_NAMES } from "/static/js/gridhub.js";

export const RADII = [500, 1000, 2000, 5000];
const ROLE_NAMES = { responder: "网格员", department: "职能部门" };

/** A distance as people say it: "320 米", "1.2 公里", "12 公里". */
export function distanceText(metres) {
  if (metres < 999.5) return `${Math.round(metres)} 米`;
  const km = metres / 1000;
  return `${km < 10 ? km.toFixed(1).replace(/\.0$/, "") : Math.round(km)} 公里`;
}

/** Points of a circle of `radius` metres around (lat, lon), WGS-84, for maps that draw polygons. */
export function circleRing(lat, lon, radius, steps = 72) {
  const R = 6371008.8;
  const d = radius / R;
  const φ1 = (lat * Math.PI) / 180;
  const λ1 = (lon * Math.PI) / 180;
  const ring = [];
  for (let i = 0; i <= steps; i++) {
    const θ = (2 * Math.PI * i) / steps;
    const φ2 = Math.asin(Math.sin(φ1) * Math.cos(d) + Math.cos(φ1) * Math.sin(d) * Math.cos(θ));
    const λ2 = λ1 + Math.atan2(Math.sin(θ) * Math.sin(d) * Math.cos(φ1), Math.cos(d) - Math.sin(φ1) * Math.sin(φ2));
    ring.push([(λ2 * 180) / Math.PI, (φ2 * 180) / Math.PI]);
  }
  return ring;
}

function count(list) {
  if (!list) return "";
  return list.total > list.items.length ? `${list.items.length}/${list.total}` : `${list.total}`;
}

function section(title, kind, list, row, none) {
  const items = list ? list.items : [];
  return `<section data-kind="${kind}"><h3>${title}<span class="n">${count(list)}</span></h3>
    <ul>${items.length ? items.map(row).join("") : `<li class="none">${none}</li>`}</ul></section>`;
}

/**
 * The panel inside a map tile. `onSearch({lat, lon, radius})` tells the map where to draw the circle
 * (null when the panel closes); `onCamera(camera)` plays one; `onEvent(event, mouse)` shows one.
 */
export class NearbyPanel {
  constructor(host, { onSearch, onCamera, onEvent }) {
    this.el = document.createElement("aside");
    this.el.className = "nearby-panel";
    this.el.hidden = true;
    host.append(this.el);
    this.radius = 1000;
    this.point = null;
    this.found = null;
    this.gen = 0;
    Object.assign(this, { onSearch, onCamera, onEvent });
    this.el.addEventListener("click", (e) => this.click(e));
    this.el.addEventListener("change", (e) => {
      if (e.target.name === "radius") {
        this.radius = Number(e.target.value);
        if (this.point) this.search(this.point.lat, this.point.lon);
      }
    });
  }

  /** Search around a WGS-84 point and show what the account may see there. */
  async search(lat, lon) {
    const gen = ++this.gen;
    this.point = { lat, lon };
    this.found = null;
    this.onSearch && this.onSearch({ lat, lon, radius: this.radius });
    this.render("搜索中…");
    try {
      const found = await api("/api/v1/nearby", { params: { lat: lat.toFixed(6), lon: lon.toFixed(6), radius_m: this.radius } });
      if (gen !== this.gen) return;
      this.found = found;
      this.render();
      this.el.dataset.ready = "1";
    } catch (err) {
      if (gen === this.gen) this.render(`查询失败:${err.message}`);
    }
  }

  close() {
    this.gen++;
    this.point = null;
    this.found = null;
    this.el.hidden = true;
    delete this.el.dataset.ready;
    this.onSearch && this.onSearch(null);
  }

  render(note) {
    const f = this.found;
    const p = this.point;
    delete this.el.dataset.ready;
    this.el.hidden = false;
    const radii = RADII.map((r) => `<option value="${r}" ${r === this.radius ? "selected" : ""}>${distanceText(r)}</option>`).join("");
    const head = `<header><b>周边资源</b><label>半径 <select name="radius">${radii}</select></label>
      <button class="tool" data-close title="关闭">✕</button></header>
      <div class="where">北纬 ${p.lat.toFixed(5)}° 东经 ${p.lon.toFixed(5)}°</div>`;
    if (!f) {
      this.el.innerHTML = `${head}<div class="note">${escapeHtml(note || "")}</div>`;
      return;
    }
    const d = (x) => `<span class="d">${distanceText(x.distance_m)}</span>`;
    this.el.innerHTML = `${head}<div class="lists">
      ${section("摄像头", "cameras", f.cameras, (c) => `<li class="cam" data-camera="${c.id}" title="点击播放"><span class="ico cam"></span><span class="name">${escapeHtml(c.name)}</span>${CAMERA_STATES[c.status] ? `<span class="m">${CAMERA_STATES[c.status]}</span>` : ""}${d(c)}</li>`, "范围内没有摄像头")}
      ${section("处置力量", "responders", f.responders, (r) => `<li data-responder="${r.id}"><span class="ico person"></span><span class="name">${escapeHtml(r.name)}</span><span class="m">${ROLE_NAMES[r.role] || ""}${r.phone ? ` · <span class="phone">${escapeHtml(r.phone)}</span>` : ""}</span>${d(r)}</li>`, "范围内没有在岗人员")}
      ${section("指挥中心", "centres", f.centres, (c) => `<li data-centre="${escapeHtml(c.code)}"><span class="ico centre"></span><span class="name">${escapeHtml(c.name)}</span><span class="m">${LEVEL_NAMES[c.level] || ""}</span>${d(c)}</li>`, "范围内没有指挥中心")}
      ${section("在办事件", "events", f.events, (e) => `<li class="ev" data-event="${e.id}"><span class="ico ev w-${e.warning}"></span><span class="name">${escapeHtml(e.title)}</span><span class="m">${STATE_NAMES[e.state] || e.state}${e.warning !== "none" ? ` · <span class="w-${e.warning}">${WARNING_NAMES[e.warning]}</span>` : ""}</span>${d(e)}</li>`, "范围内没有在办事件")}
    </div>`;
  }

  click(e) {
    if (e.target.closest("[data-close]")) return this.close();
    const cam = e.target.closest("[data-camera]");
    if (cam && this.found) {
      const camera = this.found.cameras.items.find((c) => String(c.id) === cam.dataset.camera);
      if (camera && this.onCamera) this.onCamera(camera);
      return;
    }
    const ev = e.target.closest("[data-event]");
    if (ev && this.found && this.onEvent) {
      const event = this.found.events.items.find((x) => String(x.id) === ev.dataset.event);
      if (event) this.onEvent(event, e);
    }
  }
}
