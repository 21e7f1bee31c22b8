// The workflow actions as the console offers them: their Chinese names, shortcuts and the small form
// each needs. Which buttons show is decided by the server (the event's allowed_actions), never here.

import { api, ApiError, escapeHtml, fmt } from "/static/js/gridhub.js";

export const ACTIONS = {
  accept: { name: "受理", style: "primary", key: "a" },
  reject: { name: "不予受理", style: "danger", key: "r", form: "reason" },
  reopen: { name: "重新受理", form: "note" },
  assign: { name: "交办", style: "primary", key: "s", form: "assignee" },
  escalate: { name: "上报上级", form: "note" },
  transfer: { name: "流转", form: "assignee" },
  return: { name: "退回", form: "reason" },
  sign: { name: "签收", style: "primary" },
  handle: { name: "办结处置", style: "primary", form: "result" },
  verify: { name: "核查", style: "primary", form: "verify" },
  evaluate: { name: "评价", form: "rating" },
  urge: { name: "催办", key: "u" },
  tag: { name: "打标签", form: "tags" },
  extend: { name: "延期申请", form: "extend" },
  approve_extension: { name: "延期审批", form: "approval" },
  comment: { name: "备注", form: "comment" },
};

/** Keys that act at once: p / f verify pass / fail (the others open the action's form). */
export const DIRECT_KEYS = { p: ["verify", { passed: true }], f: ["verify", { passed: false }] };

const ERROR_TEXT = {
  illegal_transition: "当前状态下不能执行该操作",
  stale_version: "事件已被他人更新,请刷新后再操作",
  not_found: "事件不存在或不在您的辖区",
  forbidden: "您没有执行该操作的权限",
  validation_error: "填写的内容不符合要求",
  invalid_input: "填写的内容不符合要求",
  unauthorized: "登录已失效,请重新登录",
  conflict: "操作冲突",
};

/** The server's refusal in Chinese: a known code's text, and the server's own message as detail. */
/** The extension request waiting for a decision, if any: {requested_deadline, reason, …}. */
export function pendingExtension(e) {
  return e.extension_pending ? [...(e.extensions || [])].reverse().find((x) => x.status === "pending") || null : null;
}

export function errorText(err) {
  if (!(err instanceof ApiError)) return `网络异常:${err.message}`;
  const code = err.body && err.body.error;
  const known = ERROR_TEXT[code];
  const detail = err.body && err.body.message ? err.body.message : err.message;
  return known ? `${known}(${detail})` : `操作失败:${detail}`;
}

function formHtml(kind, state) {
  switch (kind) {
    case "reason":
      return `<textarea name="reason" rows="3" placeholder="请填写理由(至少 2 个字)" required minlength="2" maxlength="2000"></textarea>`;
    case "note":
      return `<textarea name="note" rows="2" placeholder="说明(可选)" maxlength="2000"></textarea>`;
    case "comment":
      return `<textarea name="note" rows="2" placeholder="备注内容" required maxlength="2000"></textarea>`;
    case "result":
      return `<textarea name="result" rows="3" placeholder="处置结果(至少 2 个字)" required minlength="2" maxlength="5000"></textarea>`;
    case "tags":
      return `<input type="text" name="tags" placeholder="多个标签用逗号分隔" value="${escapeHtml(state.detail.tags.join(","))}">`;
    case "rating":
      return `<div>${[5, 4, 3, 2, 1].map((n) => `<label><input type="radio" name="rating" value="${n}" ${n === 5 ? "checked" : ""}> ${"★".repeat(n)}</label> `).join("")}</div>`;
    case "extend":
      return `<label>延期至 <input type="datetime-local" name="until" required></label><textarea name="reason" rows="2" placeholder="延期理由" required minlength="2"></textarea>`;
    case "approval": {
      const asked = pendingExtension(state.detail);
      return asked
        ? `<div class="asked">申请延期至 <b>${fmt(asked.requested_deadline)}</b>(当前时限 ${fmt(state.detail.deadline_at) || "无"})<br>理由:${escapeHtml(asked.reason)}</div>`
        : "";
    }
    case "verify":
      return "";
    case "assignee": {
      const people = (state.nearby && state.nearby.responders) || [];
      return `<div class="pick" id="pick">${people.length ? people.map((p, i) => `<label><input type="radio" name="assignee_id" value="${p.id}" ${i === 0 ? "checked" : ""}>
          ${escapeHtml(p.display_name || p.username)} <span class="d">${Math.round(p.distance_m)} 米</span></label>`).join("") : `<div class="m" style="padding:6px">加载辖区人员…</div>`}</div>
        <label>时限(小时,可选) <input type="text" name="deadline_hours" inputmode="decimal" size="5"></label>`;
    }
    default:
      return "";
  }
}

function submitButtons(kind) {
  if (kind === "verify") return `<button type="button" data-submit='{"passed":true}' class="primary">核查通过</button><button type="button" data-submit='{"passed":false}' class="danger">不通过</button>`;
  if (kind === "approval") return `<button type="button" data-submit='{"approved":true}' class="primary">同意延期</button><button type="button" data-submit='{"approved":false}' class="danger">不同意</button>`;
  return `<button type="submit" class="primary">确定</button>`;
}

/** Opens ``action``'s form under the buttons; ``submit(body)`` is called with the filled-in body. */
export function actionForm(host, action, state, submit) {
  const kind = ACTIONS[action].form;
  host.innerHTML = `<form class="form" id="actionform"><b>${ACTIONS[action].name}</b>${formHtml(kind, state)}
    <div class="error" id="formerror"></div><div class="row"><button type="button" id="formcancel">取消</button>${submitButtons(kind)}</div></form>`;
  const form = host.querySelector("form");
  form.querySelector("textarea, input[type=text], input[type=datetime-local]")?.focus();
  host.querySelector("#formcancel").onclick = () => (host.innerHTML = "");
  if (kind === "assignee" && !(state.nearby && state.nearby.responders.length)) fillPeople(host);
  const collect = (extra) => {
    const fd = new FormData(form);
    const body = { ...extra };
    for (const [k, v] of fd.entries()) {
      if (v === "") continue;
      if (k === "assignee_id" || k === "rating") body[k] = Number(v);
      else if (k === "deadline_hours") body[k] = Number(v);
      else if (k === "tags") body.tags = String(v).split(/[,，、;；\s]+/).filter(Boolean); // a Chinese keyboard types ，、；
      else if (k === "until") body.until = new Date(v).toISOString();
      else body[k] = v;
    }
    if (kind === "tags" && !body.tags) body.tags = [];
    return body;
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (kind === "assignee" && !form.querySelector("input[name=assignee_id]:checked")) {
      host.querySelector("#formerror").textContent = "请选择处置人员";
      return;
    }
    submit(collect({}));
  });
  form.querySelectorAll("[data-submit]").forEach((b) => (b.onclick = () => submit(collect(JSON.parse(b.dataset.submit)))));
}

/** No responder near the event (or no position): offer the jurisdiction's responders instead. */
async function fillPeople(host) {
  try {
    const res = await api("/api/v1/users", { params: { role: "responder", page_size: 200 } });
    const people = Array.isArray(res) ? res : res.items || [];
    const pick = host.querySelector("#pick");
    if (!pick) return;
    pick.innerHTML = people.length
      ? people.map((p, i) => `<label><input type="radio" name="assignee_id" value="${p.id}" ${i === 0 ? "checked" : ""}> ${escapeHtml(p.display_name || p.username)}<span class="d">${escapeHtml(p.jurisdiction_name || p.jurisdiction_code || "")}</span></label>`).join("")
      : `<div class="m" style="padding:6px">辖区内没有可交办的人员</div>`;
  } catch (err) {
    host.querySelector("#formerror").textContent = errorText(err);
  }
}
