// A floating window on the big screen that plays one camera live with the shared player (WebRTC, MJPEG
// when WebRTC cannot play). One window at a time: opening another camera replaces it.

import { escapeHtml, token } from "/static/js/gridhub.js";
import { Player, playerErrorText } from "/static/js/player.js";

const STATE_TEXT = { connecting: "连接中", playing: "实时", fallback: "低带宽画面", error: "无法播放", stopped: "已停止" };
let current = null;

export function closeCameraWindow() {
  if (!current) return;
  current.player.stop();
  current.el.remove();
  current = null;
}

/** Play `camera` ({id, name}) in the window. */
export function openCameraWindow(camera) {
  closeCameraWindow();
  const el = document.createElement("div");
  el.className = "camwin";
  el.dataset.camera = camera.id;
  el.innerHTML = `<div class="camwin-bar"><b>${escapeHtml(camera.name)}</b><span class="camwin-state">连接中</span>
    <button class="tool" data-close title="关闭">✕</button></div><div class="camwin-box"></div>`;
  document.body.append(el);
  const player = new Player(el.querySelector(".camwin-box"), { camera: camera.id, token: token(), mode: "live" });
  const label = el.querySelector(".camwin-state");
  player.addEventListener("state", () => {
    el.dataset.state = player.state;
    label.textContent = `${STATE_TEXT[player.state] || player.state}${player.error ? `:${playerErrorText(player.error)}` : ""}`;
    label.title = player.error ? player.error.message : "";
  });
  el.querySelector("[data-close]").onclick = closeCameraWindow;
  current = { el, player };
  player.start().catch(() => {});
}
