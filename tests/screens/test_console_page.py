"""坐席调度台 in a real browser: a detection event is judged from its snapshot, accepted and assigned."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.screens.conftest import Site, open_page, screenshot


async def test_dispatcher_accepts_and_assigns_a_detection_event(browser: Any, site: Site) -> None:
    page = await open_page(browser, site, "t1_dispatcher", "/screens/console")
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    event_id = await site.detection()
    row = f"#events li[data-id='{event_id}']"
    await page.wait_for_selector(row, timeout=5000)  # pushed over /ws: no reload
    await page.wait_for_function(
        f"getComputedStyle(document.querySelector(\"[data-thumb='{event_id}']\")).backgroundImage.includes('media')",
        timeout=5000,
    )
    await page.click(row)
    await page.wait_for_selector("#actions button[data-action=accept]")
    assert await page.eval_on_selector(".media img", "img => img.naturalWidth") > 0, "the snapshot is shown"
    await page.keyboard.press("a")  # 受理 by its shortcut
    await page.wait_for_selector("#actions button[data-action=assign]", timeout=5000)
    assert "待交办" in await page.text_content("#detail")
    await page.click("#actions button[data-action=assign]")
    await page.wait_for_selector(f"#pick input[value='{site.ids['t1_worker']}']", timeout=5000)
    await page.check(f"#pick input[value='{site.ids['t1_worker']}']")
    await page.click("#actionform button[type=submit]")
    await page.wait_for_function("document.querySelector('#detail').textContent.includes('待签收')", timeout=5000)
    r = await site.http.get(f"/api/v1/events/{event_id}", headers=site.h("t1_dispatcher"))
    event = r.json()
    assert event["state"] == "assigned" and event["assignee_id"] == site.ids["t1_worker"]
    assert event["source"] == "detection"
    # the place by name (town · village · grid), not by code
    assert event["place_name"].count(" · ") == 2 and event["place_name"] in await page.text_content("#detail")
    assert "视频智能发现" in await page.text_content(".timeline"), "the detection account in Chinese"
    await screenshot(page, "console")
    assert page.errors == []


MUTE_LIVE = """
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (e) => { if (window.__muteLive) e.stopImmediatePropagation(); });
  }
  set onmessage(fn) { this.addEventListener("message", (e) => { if (!window.__muteLive) fn(e); }); }
};
"""


async def test_buttons_follow_allowed_actions_and_a_stale_page_offers_a_reload(browser: Any, site: Site) -> None:
    ev = await site.report()
    page = await open_page(browser, site, "t1_dispatcher", "/screens/console")
    await page.add_init_script(MUTE_LIVE)
    await page.goto(f"{site.base}/screens/console?event={ev['id']}")
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    await page.wait_for_selector("#actions button[data-action=accept]")
    shown = await page.eval_on_selector_all("#actions button", "bs => bs.map(b => b.dataset.action)")
    detail = (await site.http.get(f"/api/v1/events/{ev['id']}", headers=site.h("t1_dispatcher"))).json()
    assert shown == [a for a in detail["allowed_actions"] if a in shown] and "accept" in shown and "sign" not in shown
    # Live updates on: another dispatcher's accept redraws the detail by itself.
    await site.act("county_dispatcher", ev, "accept")
    await page.wait_for_function("document.querySelector('#detail').textContent.includes('待交办')", timeout=5000)
    # Live updates lost (a stalled network): the page acts on an old version, and is told so in Chinese.
    ev2 = await site.report()
    await page.goto(f"{site.base}/screens/console?event={ev2['id']}")
    await page.wait_for_selector("#actions button[data-action=accept]")
    await page.evaluate("window.__muteLive = true")
    await site.act("county_dispatcher", ev2, "accept")
    await page.click("#actions button[data-action=accept]")
    await page.wait_for_selector("#reload", timeout=5000)
    assert "已被他人更新" in await page.text_content("#detail")
    await page.click("#reload")
    await page.wait_for_selector("#actions button[data-action=assign]", timeout=5000)


async def test_a_new_urgent_report_sounds(browser: Any, site: Site) -> None:
    page = await open_page(browser, site, "t1_dispatcher", "/screens/console")
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    await site.report(title="燃气泄漏", urgency="critical")
    await page.wait_for_function("Number(document.body.dataset.beeped || 0) >= 1", timeout=5000)


async def test_an_extension_is_decided_seeing_what_was_asked(browser: Any, site: Site) -> None:
    """延期审批 shows the deadline asked for and the reason; the timeline says what was asked and decided, and
    the responder's dispatch carries the decision."""
    ev = await site.report(title="排水管道堵塞")
    ev = await site.act("t1_dispatcher", ev, "accept")
    ev = await site.act("t1_dispatcher", ev, "assign", assignee_id=site.ids["t1_worker"])
    ev = await site.act("t1_worker", ev, "sign")
    until = datetime(2031, 12, 20, 2, 0, tzinfo=UTC)
    shown = until.astimezone().strftime("%m/%d %H:%M")  # as the browser shows it, in this machine's zone
    await site.act("t1_worker", ev, "extend", until=until.isoformat(), reason="等待施工队进场")
    page = await open_page(browser, site, "t1_dispatcher", f"/screens/console?event={ev['id']}")
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    await page.wait_for_selector("#actions button[data-action=approve_extension]", timeout=5000)
    assert "等待施工队进场" in await page.text_content("#detail dl")
    await page.click("#actions button[data-action=approve_extension]")
    asked = await page.text_content("#actionform .asked")
    assert shown in asked and "等待施工队进场" in asked, asked
    await page.click("#actionform button[data-submit]:has-text('同意延期')")
    await page.wait_for_function(
        f"document.querySelector('.timeline').textContent.includes('同意延期至 {shown}')", timeout=5000
    )
    assert f"申请延期至 {shown},理由:等待施工队进场" in await page.text_content(".timeline")
    assert page.errors == []
