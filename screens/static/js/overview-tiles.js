// The tile types of the big screen. Each registers: a title, default options, and mount(body, tile, ctx)
// returning {update(data), resize()}. `data` is the overview document of GET /api/v1/screens/overview
// (the same document is pushed on screen:overview.{code}); tiles draw only what it holds.

import { escapeHtml, LEVEL_NAMES } from "/static/js/gridhub.js";
import { initChart } from "/static/js/overview-chart.js";
import { MAP_TILE } from "/static/js/overview-map.js";
import { C, rem } from "/static/js/overview-style.js";

function numbers(body, items) {
  body.innerHTML = `<div class="numbers">${items
    .map(([key, label, cls]) => `<div><div class="n ${cls || ""}" data-metric="${key}">–</div><div class="l">${label}</div></div>`)
    .join("")}</div>`;
  return (values) => {
    for (const [key] of items) {
      const el = body.querySelector(`[data-metric="${key}"]`);
      const v = values[key];
      el.textContent = v === null || v === undefined ? "–" : v;
    }
  };
}

function chart(body) {
  body.innerHTML = `<div class="chart"></div><div class="unavailable empty" hidden></div>`;
  return initChart(body.firstChild);
}

/** Shows `note` instead of the chart while there is nothing to draw; true when empty. */
function empty(body, isEmpty, note) {
  const overlay = body.querySelector(".empty");
  overlay.textContent = note;
  overlay.hidden = !isEmpty;
  body.querySelector(".chart").style.visibility = isEmpty ? "hidden" : "visible";
  return isEmpty;
}

const axisStyle = () => ({
  axisLine: { lineStyle: { color: "#2a5aa0" } },
  axisLabel: { color: C.muted, fontSize: 0.65 * rem() },
  splitLine: { lineStyle: { color: "rgba(53,194,255,.1)" } },
});

export const TILES = {
  today: {
    title: "今日事件",
    mount(body) {
      const set = numbers(body, [["new", "今日新增"], ["handled", "今日处置", "green"], ["closed", "今日办结", "green"]]);
      return { update: (d) => set(d.today) };
    },
  },
  pending: {
    title: "待受理预警",
    mount(body) {
      const set = numbers(body, [["total", "待受理"], ["yellow", "预警", "yellow"], ["red", "超时", "red"]]);
      return { update: (d) => set(d.pending) };
    },
  },
  forces: {
    title: "网格力量在线",
    mount(body) {
      const set = numbers(body, [["online", "在线", "green"], ["total", "网格员总数"], ["rate", "在线率"]]);
      return {
        update: (d) => {
          const f = d.forces;
          set({ ...f, rate: f.total ? `${Math.round((100 * f.online) / f.total)}%` : "–" });
        },
      };
    },
  },
  safety: {
    title: "平安指数",
    mount(body) {
      const c = chart(body);
      return {
        resize: () => c.resize(),
        update: (d) => {
          const s = d.safety_index;
          c.setOption({
            tooltip: { formatter: () => escapeHtml(s.explanation) },
            series: [{
              type: "gauge", min: 0, max: 100, radius: "95%", center: ["50%", "58%"],
              progress: { show: true, width: 0.6 * rem() },
              axisLine: { lineStyle: { width: 0.6 * rem(), color: [[1, "rgba(53,194,255,.15)"]] } },
              itemStyle: { color: s.value === null ? C.muted : s.value >= 80 ? C.green : s.value >= 60 ? C.yellow : C.red },
              axisTick: { show: false }, splitLine: { show: false }, axisLabel: { show: false }, pointer: { show: false },
              detail: { valueAnimation: true, fontSize: 1.8 * rem(), color: "#fff", offsetCenter: [0, "5%"],
                formatter: (v) => (s.value === null ? "无数据" : v.toFixed(1)) },
              title: { offsetCenter: [0, "45%"], color: C.muted, fontSize: 0.7 * rem() },
              data: [{ value: s.value ?? 0, name: "本月" }],
            }],
          });
        },
      };
    },
  },
  visits: {
    title: "本月走访",
    mount(body) {
      return {
        update: (d) => {
          const v = d.visits;
          body.innerHTML = v.available ? `<div class="numbers"><div class="n">${v.count}</div></div>` : `<div class="unavailable">${escapeHtml(v.note)}</div>`;
        },
      };
    },
  },
  base: {
    title: "基础数据",
    mount(body) {
      return { update: (d) => { body.innerHTML = `<div class="unavailable">${escapeHtml(d.base_data.note)}</div>`; } };
    },
  },
  trend: {
    title: "近30天事件趋势",
    mount(body) {
      const c = chart(body);
      return {
        resize: () => c.resize(),
        update: (d) => c.setOption({
          grid: { left: "6%", right: "3%", top: "16%", bottom: "14%" },
          legend: { textStyle: { color: C.text, fontSize: 0.7 * rem() }, top: 0 },
          tooltip: { trigger: "axis" },
          xAxis: { type: "category", data: d.trend.map((t) => t.day.slice(5)), ...axisStyle() },
          yAxis: { type: "value", minInterval: 1, ...axisStyle() },
          series: [
            { name: "新增", type: "line", smooth: true, data: d.trend.map((t) => t.new), itemStyle: { color: C.accent }, areaStyle: { opacity: 0.15 } },
            { name: "办结", type: "line", smooth: true, data: d.trend.map((t) => t.closed), itemStyle: { color: C.green } },
          ],
        }),
      };
    },
  },
  towns: {
    title: "辖区概况",
    mount(body, tile, ctx) {
      const c = chart(body);
      c.on("click", (p) => { const row = c.__rows && c.__rows[p.dataIndex]; if (row) ctx.drill(row.code); });
      return {
        resize: () => c.resize(),
        update: (d) => {
          if (empty(body, !d.children.length, "网格是最小的辖区,没有下级")) return;
          // every bar named, readable from the back of the room (a leader drills down by name): as many rows
          // as fit at a readable size; with more children than that, those with the most open events
          const fitting = Math.max(3, Math.floor((body.clientHeight * 0.78) / (0.55 * rem() * 1.4)));
          const rows = d.children.length <= fitting ? d.children
            : [...d.children].sort((a, b) => b.open - a.open || b.red - a.red).slice(0, fitting);
          c.__rows = rows;
          const note = body.parentElement.querySelector("h2 small") || body.parentElement.querySelector("h2").appendChild(document.createElement("small"));
          note.textContent = rows.length < d.children.length ? ` 在办最多的 ${rows.length} 个(共 ${d.children.length} 个)` : "";
          const perRow = (body.clientHeight * 0.78) / rows.length;
          const nameSize = Math.max(0.55 * rem(), Math.min(0.7 * rem(), perRow * 0.7));
          const style = axisStyle();
          c.setOption({
            grid: { left: "2%", right: "5%", top: "14%", bottom: "2%", containLabel: true },
            legend: { textStyle: { color: C.text, fontSize: 0.65 * rem() }, top: 0 },
            tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
            xAxis: { type: "value", minInterval: 1, ...style },
            yAxis: { type: "category", inverse: true, data: rows.map((r) => r.name), ...style,
              axisLabel: { ...style.axisLabel, interval: 0, fontSize: nameSize } },
            series: [
              { name: "在办正常", type: "bar", stack: "open", data: rows.map((r) => r.open - r.yellow - r.red), itemStyle: { color: C.accent } },
              { name: "预警", type: "bar", stack: "open", data: rows.map((r) => r.yellow), itemStyle: { color: C.yellow } },
              { name: "超期", type: "bar", stack: "open", data: rows.map((r) => r.red), itemStyle: { color: C.red } },
            ],
          }, { replaceMerge: ["series"] });
        },
      };
    },
  },
  levels: {
    title: "事件分级办结(近一年)",
    mount(body) {
      const c = chart(body);
      return {
        resize: () => c.resize(),
        update: (d) => empty(body, !d.levels.total, "近一年暂无办结事件") || c.setOption({
          tooltip: { formatter: "{b}: {c} 件 ({d}%)" },
          legend: { orient: "vertical", right: 0, top: "middle", textStyle: { color: C.text, fontSize: 0.65 * rem() } },
          series: [{
            type: "pie", radius: ["45%", "75%"], center: ["38%", "50%"], label: { color: C.text, fontSize: 0.65 * rem(), formatter: "{d}%" },
            data: d.levels.levels.map((l) => ({ name: `${LEVEL_NAMES[l.level]}级`, value: l.count })),
          }],
          color: [C.green, C.accent, C.yellow, C.red],
        }),
      };
    },
  },
  efficiency: {
    title: "事件效能(各环节平均用时)",
    mount(body) {
      const c = chart(body);
      return {
        resize: () => c.resize(),
        update: (d) => empty(body, d.efficiency.every((s) => s.mean_hours === null), "近30天暂无可计算的环节用时") || c.setOption({
          grid: { left: "2%", right: "4%", top: "24%", bottom: "2%", containLabel: true },
          tooltip: { trigger: "axis", valueFormatter: (v) => (v === null ? "无数据" : `${v} 小时`) },
          xAxis: { type: "category", data: d.efficiency.map((s) => s.name), ...axisStyle() },
          yAxis: { type: "value", name: "小时", nameTextStyle: { color: C.muted, fontSize: 0.6 * rem() }, splitNumber: 3, ...axisStyle() },
          series: [{ type: "bar", data: d.efficiency.map((s) => s.mean_hours), itemStyle: { color: C.accent }, barWidth: "45%",
            label: { show: true, position: "top", color: C.text, fontSize: 0.65 * rem(), formatter: (p) => (p.value === null ? "" : p.value) } }],
        }),
      };
    },
  },
  hotwords: {
    title: "热词(近7天)",
    mount(body) {
      // A tag cloud laid out by the browser: words sized by their count, the most frequent in the middle.
      // (A canvas word cloud measured every word on a canvas of its own: ~150 ms of the first paint.)
      const palette = [C.accent, C.green, C.yellow, "#b37feb", "#fff"];
      // the same word keeps its colour from one update to the next (no flicker on a wall)
      const colour = (word) => palette[[...word].reduce((h, ch) => (h * 31 + ch.codePointAt(0)) >>> 0, 7) % palette.length];
      let shown = null; // the words drawn now: laid out again only when they change
      const fit = (cloud) => {
        // shrink the whole cloud until it fits its tile (a few steps; each is one small layout)
        let scale = 1;
        while (scale > 0.4 && cloud.scrollHeight > cloud.clientHeight + 1) {
          scale *= 0.85;
          cloud.style.setProperty("--scale", scale);
        }
      };
      return {
        resize: () => {
          const cloud = body.querySelector(".cloud");
          if (cloud) {
            cloud.style.setProperty("--scale", 1);
            fit(cloud);
          }
        },
        update: (d) => {
          const words = d.hot_words;
          const key = JSON.stringify(words);
          if (key === shown) return;
          shown = key;
          if (!words.length) {
            body.innerHTML = `<div class="unavailable">近7天暂无事件文本</div>`;
            return;
          }
          const top = words[0].count;
          const low = words[words.length - 1].count;
          const size = (n) => (top === low ? 1.4 : 0.7 + (1.5 * Math.sqrt(n - low)) / Math.sqrt(top - low));
          const ordered = [];
          words.forEach((w, i) => (i % 2 ? ordered.unshift(w) : ordered.push(w))); // the largest in the middle
          body.innerHTML = `<div class="cloud">${ordered
            .map((w) => `<span style="font-size:calc(${size(w.count).toFixed(2)}rem * var(--scale));color:${colour(w.word)}" title="${escapeHtml(w.word)}:${w.count} 次">${escapeHtml(w.word)}</span>`)
            .join("")}</div>`;
          fit(body.firstChild);
        },
      };
    },
  },
  month: {
    title: "本月事件处理统计",
    mount(body) {
      // Every jurisdiction's row on the wall: the table shrinks to fit, down to a readable floor, then scrolls
      // one row every few seconds (the header stays), from the top again after the last.
      let carousel = null;
      const fit = () => {
        const box = body.querySelector(".rows-box");
        if (!box) return;
        clearInterval(carousel);
        let scale = 1;
        box.style.fontSize = "";
        while (scale > 0.8 && box.scrollHeight > box.clientHeight + 1) {
          scale *= 0.9;
          box.style.fontSize = `${(0.75 * scale).toFixed(3)}rem`;
        }
        box.scrollTop = 0;
        if (box.scrollHeight <= box.clientHeight + 1) return;
        const row = box.querySelector("tr:nth-child(2)");
        carousel = setInterval(() => {
          const end = box.scrollHeight - box.clientHeight;
          box.scrollTop = box.scrollTop >= end - 1 ? 0 : Math.min(end, box.scrollTop + (row ? row.offsetHeight : 20));
        }, 4000);
      };
      return {
        resize: fit,
        dispose: () => clearInterval(carousel),
        update: (d) => {
          const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
          const rows = [{ name: "合计", ...d.month.total }, ...d.month.rows];
          const html = `<div class="rows-box"><table class="rows"><tr><th>辖区</th><th title="本月上报的事件数 N">新增</th><th title="本月核查通过而办结的事件数">已办结</th><th title="N 中至今已办结的事件数 ÷ N">新增办结率</th><th title="本月办结且未超过办理时限的事件数 ÷ 本月办结的事件数">按时办结率</th><th title="N 中评价为 4 或 5 分的事件数 ÷ N 中已评价的事件数">新增满意率</th></tr>${rows
            .map((r) => `<tr><td>${escapeHtml(r.name)}</td><td>${r.new}</td><td>${r.closed}</td><td>${pct(r.close_rate)}</td><td>${pct(r.on_time_rate)}</td><td>${pct(r.satisfaction_rate)}</td></tr>`)
            .join("")}</table></div>`;
          if (html === body.innerHTML) return; // the same numbers: the carousel keeps its place
          body.innerHTML = html;
          fit();
        },
      };
    },
  },
  map: MAP_TILE,
};

export const DEFAULT_LAYOUT = {
  uid: "overview",
  schemaVersion: 1,
  version: 0,
  tiles: [
    { id: "today", type: "today", gridPos: { x: 0, y: 0, w: 6, h: 2 } },
    { id: "pending", type: "pending", gridPos: { x: 0, y: 2, w: 6, h: 2 } },
    { id: "forces", type: "forces", gridPos: { x: 0, y: 4, w: 6, h: 2 } },
    { id: "safety", type: "safety", gridPos: { x: 0, y: 6, w: 6, h: 3 } },
    { id: "month", type: "month", gridPos: { x: 0, y: 9, w: 6, h: 3 } },
    { id: "map", type: "map", gridPos: { x: 6, y: 0, w: 12, h: 8 }, options: { layers: { events: true, heat: false, responders: true, cameras: false } } },
    { id: "trend", type: "trend", gridPos: { x: 6, y: 8, w: 12, h: 4 } },
    { id: "towns", type: "towns", gridPos: { x: 18, y: 0, w: 6, h: 3 } },
    { id: "levels", type: "levels", gridPos: { x: 18, y: 3, w: 6, h: 2 } },
    { id: "efficiency", type: "efficiency", gridPos: { x: 18, y: 5, w: 6, h: 2 } },
    { id: "hotwords", type: "hotwords", gridPos: { x: 18, y: 7, w: 6, h: 3 } },
    { id: "visits", type: "visits", gridPos: { x: 18, y: 10, w: 6, h: 2 } },
  ],
};
