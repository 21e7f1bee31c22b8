"""统计分析 (Streamlit): 事件处理统计 by month with 指标说明, trends, per-jurisdiction comparison, exports.

Run by ``gridhub analytics [--port P] [--hub URL]``. A client of the hub's public API like every page
(it sees exactly what the logged-in user may see, and its exports are audited as any export): the
console links here with the user's token (``?token=``); otherwise it asks for a login.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any

import httpx
import pandas as pd
import streamlit as st

HUB = os.environ.get("GRIDHUB_HUB_URL", "http://127.0.0.1:8000").rstrip("/")
PERCENT_KEYS = ("sign_rate", "transfer_rate", "handle_rate", "close_rate", "satisfaction_rate", "on_time_rate")


class HubError(Exception):
    pass


def call(path: str, token: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx.get(f"{HUB}{path}", params=params, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise HubError(f"无法连接 gridhub({HUB}):{exc}") from None
    if r.status_code == 401:
        st.session_state.pop("token", None)
        raise HubError("登录已失效,请重新登录")
    if r.status_code >= 400:
        try:
            message = r.json().get("message", r.text)
        except ValueError:
            message = r.text
        raise HubError(f"gridhub 拒绝了请求({r.status_code}):{message}")
    return r


def login_form() -> None:
    st.title("统计分析 · 登录")
    with st.form("login"):
        username = st.text_input("账号")
        password = st.text_input("密码", type="password")
        if st.form_submit_button("登录"):
            r = httpx.post(f"{HUB}/api/v1/auth/login", json={"username": username, "password": password}, timeout=30)
            if r.status_code == 200:
                st.session_state["token"] = r.json()["access_token"]
                st.rerun()
            else:
                st.error("账号或密码错误,或尝试过于频繁")


def month_range(month: date) -> tuple[date, date | None]:
    """The month's first and last day; no last day for the current month (the hub ends it at its own today)."""
    first = month.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, (None if last >= date.today() else last)


def period(code: str, start: date, end: date | None) -> dict[str, Any]:
    return {"jurisdiction": code, "start": start.isoformat(), **({"end": end.isoformat()} if end else {})}


def stats_frame(stats: dict[str, Any]) -> pd.DataFrame:
    names = {m["key"]: m["name"] for m in stats["metrics"]}
    rows = [{"辖区": "合计", **stats["total"]}] + [{"辖区": r["name"], **r} for r in stats["rows"]]
    frame = pd.DataFrame(rows)
    keep = ["辖区", *names]
    frame = frame[[c for c in keep if c in frame.columns]].rename(columns=names)
    for key in PERCENT_KEYS:
        if names.get(key) in frame:
            frame[names[key]] = frame[names[key]].map(lambda v: None if v is None or pd.isna(v) else round(v * 100, 1))
    return frame


def main() -> None:
    st.set_page_config(page_title="统计分析 · gridhub", layout="wide")
    token = st.query_params.get("token") or st.session_state.get("token")
    if token:
        st.session_state["token"] = token
    else:
        login_form()
        return
    try:
        me = call("/api/v1/auth/me", token).json()
        tree = call("/api/v1/jurisdictions", token).json()
    except HubError as exc:
        st.error(str(exc))
        login_form()
        return

    st.title("事件处理统计")
    st.caption(f"{me['display_name']} · {me['jurisdiction_name']} · 数据来自 gridhub {HUB}")
    own_path_nodes = [n for n in tree if n["level"] in ("county", "town", "village")]
    labels = {n["code"]: f"{n['name']}({n['code']})" for n in own_path_nodes}
    default = me["jurisdiction_code"] if me["jurisdiction_code"] in labels else next(iter(labels), None)
    left, right = st.columns(2)
    code = left.selectbox("辖区", list(labels), index=list(labels).index(default), format_func=labels.get)
    today = date.today()
    months = [(today.replace(day=1) - timedelta(days=31 * i)).replace(day=1) for i in range(12)]
    month = right.selectbox("月份", months, format_func=lambda d: f"{d.year}年{d.month}月")
    start, end = month_range(month)

    try:
        stats = call("/api/v1/stats/events", token, **period(code, start, end)).json()
    except HubError as exc:
        st.error(str(exc))
        return
    frame = stats_frame(stats)
    st.subheader(f"{labels[code]} · {stats['start']} 至 {stats['end']}")
    st.dataframe(frame.astype(object).where(frame.notna(), "—"), hide_index=True, use_container_width=True)
    st.caption("比率列为百分比 (%);— 表示该期间没有可计算的数据。")

    downloads = st.columns(3)
    for column, fmt, label, mime in (
        (downloads[0], "csv", "导出 CSV", "text/csv"),
        (downloads[1], "xlsx", "导出 Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ):
        if column.button(label, key=f"prepare-{fmt}"):
            data = call("/api/v1/stats/events", token, **period(code, start, end), format=fmt).content
            column.download_button(
                f"保存 {fmt.upper()} 文件",
                data,
                file_name=f"events-{code}-{stats['start']}-{stats['end']}.{fmt}",
                mime=mime,
            )

    st.subheader("辖区对比")
    names = {m["key"]: m["name"] for m in stats["metrics"]}
    metric = st.selectbox("指标", list(names), format_func=names.get, index=list(names).index("close_rate"))
    comparison = pd.DataFrame(
        [{"辖区": r["name"], names[metric]: r.get(metric)} for r in stats["rows"] if r.get(metric) is not None]
    )
    if comparison.empty:
        st.info("本期没有可对比的数据(或该辖区没有下级辖区)")
    else:
        st.bar_chart(comparison, x="辖区", y=names[metric])

    st.subheader("近30天趋势")
    try:
        overview = call("/api/v1/screens/overview", token, jurisdiction=code).json()
        trend = pd.DataFrame(overview["trend"]).rename(columns={"day": "日期", "new": "新增", "closed": "办结"})
        st.line_chart(trend, x="日期", y=["新增", "办结"])
    except HubError as exc:
        st.info(f"趋势不可用:{exc}")

    with st.expander("指标说明", expanded=True):
        st.table(pd.DataFrame([{"指标": m["name"], "说明": m["explanation"]} for m in stats["metrics"]]))


main()
