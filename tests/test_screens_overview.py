"""运行概览大屏 aggregates: GET /api/v1/screens/overview and the live ``screen:overview.{code}`` channel."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from dispatch.hotwords import STOPWORDS, place_stems
from dispatch.overview import hot_words
from hub.wsclient import Client
from tests.conftest import Api
from tests.test_e2e_realtime import Live, live  # noqa: F401  (the module-scoped hub fixture)

TOWN1 = "330100001"


async def overview(api: Api, user: str, code: str | None = None) -> dict[str, Any]:
    r = await api.get(user, "/api/v1/screens/overview", params={"jurisdiction": code} if code else {})
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_report_moves_today_pending_markers_and_the_town_row(api: Api) -> None:
    before = await overview(api, "leader")
    town_before = next(c for c in before["children"] if c["code"] == TOWN1)
    ev = await api.report(title="幸福路井盖缺失", description="幸福路井盖缺失,行人易跌落")
    after = await overview(api, "leader")
    assert after["today"]["new"] == before["today"]["new"] + 1
    assert after["pending"]["total"] == before["pending"]["total"] + 1
    assert any(m["id"] == ev["id"] and m["state"] == "pending" for m in after["markers"])
    town_after = next(c for c in after["children"] if c["code"] == TOWN1)
    assert town_after["open"] == town_before["open"] + 1
    assert town_after["today_new"] == town_before["today_new"] + 1
    assert after["trend"][-1]["new"] >= 1 and len(after["trend"]) == 30
    assert {s["stage"] for s in after["efficiency"]} == {"accept", "assign", "sign", "handle", "verify"}
    assert [lv["level"] for lv in after["levels"]["levels"]] == ["grid", "village", "town", "county"]
    assert after["visits"]["available"] is False and "尚未接入" in after["visits"]["note"]
    assert 0 <= (after["safety_index"]["value"] or 0) <= 100


async def test_handling_counts_follow_the_workflow(api: Api) -> None:
    before = (await overview(api, "t1_leader"))["today"]
    ev = await api.report()
    ev = await api.act("t1_dispatcher", ev, "accept")
    ev = await api.act("t1_dispatcher", ev, "assign", assignee_id=api.user_ids["t1_worker"])
    ev = await api.act("t1_worker", ev, "sign")
    ev = await api.act("t1_worker", ev, "handle", result="已清理")
    mid = (await overview(api, "t1_leader"))["today"]
    assert mid["handled"] == before["handled"] + 1 and mid["closed"] == before["closed"]
    await api.act("t1_dispatcher", ev, "verify", passed=True)
    after = (await overview(api, "t1_leader"))["today"]
    assert after["closed"] == before["closed"] + 1


async def test_screens_reloading_at_once_cost_one_computation(api: Api) -> None:
    """While nothing changes (same outbox head, same phones, within the refresh period) every GET gets the
    document computed once; the next change computes a new one."""
    first = await overview(api, "leader")
    again = await asyncio.gather(*(overview(api, "leader") for _ in range(5)))
    assert {d["generated_at"] for d in again} == {first["generated_at"]}
    await api.report()
    after = await overview(api, "leader")
    assert after["generated_at"] > first["generated_at"] and after["today"]["new"] == first["today"]["new"] + 1


async def test_centres_are_lat_lon_for_the_jurisdiction_and_its_children(api: Api) -> None:
    """``jurisdiction.center`` and ``children[].center`` are both [lat, lon] (the children's were [lon, lat])."""
    village = await overview(api, "leader", "330100001001")
    assert [c["code"] for c in village["children"]] == ["330100001001001", "330100001001002"]
    for child in village["children"]:
        grid = api.grids[child["code"]]
        assert child["center"] == pytest.approx([grid.lat, grid.lon]), child
    grid = api.grids["330100001001001"]
    assert (await overview(api, "leader", grid.code))["jurisdiction"]["center"] == pytest.approx([grid.lat, grid.lon])


async def test_access_follows_the_jurisdiction(api: Api) -> None:
    assert (await overview(api, "t1_leader"))["jurisdiction"]["code"] == TOWN1
    r = await api.get("t1_leader", "/api/v1/screens/overview", params={"jurisdiction": "330100"})
    assert r.status_code == 404
    r = await api.get("t2_dispatcher", "/api/v1/screens/overview", params={"jurisdiction": TOWN1})
    assert r.status_code == 404
    r = await api.get("t1_worker", "/api/v1/screens/overview")
    assert r.status_code == 403
    r = await api.get("leader", "/api/v1/screens/overview", params={"jurisdiction": "no such"})
    assert r.status_code == 422


def test_hot_words_are_real_words_without_stopwords() -> None:
    words = hot_words(["人民路暴露垃圾 路边一堆垃圾", "幸福路暴露垃圾", "群众反映噪音扰民"])
    assert words[0] == {"word": "垃圾", "count": 3}
    assert "群众" not in {w["word"] for w in words} and "反映" not in {w["word"] for w in words}

    # Reports as grid workers write them: the filler of governance and the function words never show, what a
    # leader acts on does (also where jieba's own dictionary would lose it: 路面积水 is not 后路 / 面积 / 水).
    texts = [
        "幸福社区网格员巡查发现路边暴露垃圾,影响环境,请相关部门尽快处理",
        "关于幸福街道占道经营现象较为严重的问题",
        "和平小区出现噪音扰民现象,居民多次投诉",
        "下雨后路面积水,网格巡查发现井盖缺失,存在安全隐患",
        "群众反映该路段长期存在乱停车情况,要求有关单位及时处理",
        "人民路占道摆摊,街道部门已告知,希望尽快解决",
        "社区网格巡查:楼道乱堆放杂物,影响通行,相关部门进行处理",
    ]
    shown = {w["word"] for w in hot_words(texts, top=100)}
    filler = {"社区", "街道", "网格", "巡查", "尽快", "部门", "影响", "相关", "关于", "较为", "出现", "现象"}
    assert not shown & filler, shown & filler
    assert not shown & {"群众反映", "长期存在", "及时处理", "网格员", "居民", "有关", "单位", "希望", "解决", "存在"}
    assert {"垃圾", "占道", "占道经营", "噪音", "积水", "井盖", "乱停车", "乱堆放", "安全隐患"} <= shown, shown
    assert not shown & STOPWORDS
    # where it happened is the map's to say: the names of the jurisdictions and their stems are not hot words
    places = place_stems("临溪街道") | place_stems("姚岭村") | place_stems("第1网格")
    assert places == {"临溪街道", "临溪", "姚岭村", "姚岭", "第1网格", "第1"}
    reports = ["临溪街道姚岭村昨晚暴露垃圾", "临溪街道垃圾堆放", "姚岭村今日占道经营"]
    assert "临溪" in {w["word"] for w in hot_words(reports)}
    assert {w["word"] for w in hot_words(reports, places=places)}.isdisjoint(places | {"昨晚", "今日"})
    # nor the names of roads (金家 of 金家路), nor the template of a detection's description
    roads = hot_words(["金家路暴露垃圾", "育才路口噪音扰民", "人民大道占道经营", "视频智能发现:画面中人数超过阈值"])
    assert {w["word"] for w in roads} == {"暴露", "垃圾", "噪音", "扰民", "占道经营"}, roads


async def _next_overview(client: Client, channel: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        msg = await client.next(max(0.01, deadline - time.monotonic()))
        if msg.get("channel") == channel and msg.get("type") == "overview":
            return msg["data"]


async def test_screen_channel_pushes_the_new_count_within_a_second(live: Live) -> None:  # noqa: F811
    channel = f"screen:overview.{TOWN1}"
    async with live.client("t1_leader") as screen:
        await screen.subscribe(channel)
        first = await _next_overview(screen, channel, timeout=5)
        started = time.monotonic()
        await live.report()
        while True:
            data = await _next_overview(screen, channel, timeout=5)
            if data["today"]["new"] == first["today"]["new"] + 1:
                break
        assert time.monotonic() - started < 2.0, "on the big screen within a second (bounded loosely for CI)"


async def test_screen_channel_is_scoped_to_the_jurisdiction(live: Live) -> None:  # noqa: F811
    async with live.client("t2_dispatcher") as other:
        await other.subscribe(f"screen:overview.{TOWN1}")
        with pytest.raises(TimeoutError):
            while True:
                msg = await other.next(1.5)
                assert msg.get("channel") != f"screen:overview.{TOWN1}" or msg.get("type") == "error"
                if msg.get("type") == "error":
                    raise TimeoutError
    await asyncio.sleep(0)


async def test_grid_forces_online_are_the_phones_connected_now(live: Live) -> None:  # noqa: F811
    async def online() -> int:
        r = await live.http.get("/api/v1/screens/overview", headers=live.h("t1_leader"))
        assert r.status_code == 200, r.text
        return r.json()["forces"]["online"]

    before = await online()
    async with live.client("t1_worker") as phone:
        await phone.subscribe(f"dispatch:{live.ids['t1_worker']}")
        await asyncio.sleep(0.3)
        assert await online() == before + 1
    await asyncio.sleep(0.3)
    assert await online() == before
