"""网格员手机页 in a real browser (360×640): a dispatch arrives, is signed and handled with a photo, and the
big screen follows; a dispatch made while the phone is offline arrives when it reconnects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2

from tests.screens.conftest import FOOTAGE, Site, open_page, screenshot


def photo_file(tmp_path: Path) -> Path:
    capture = cv2.VideoCapture(str(FOOTAGE))
    ok, frame = capture.read()
    capture.release()
    assert ok
    path = tmp_path / "scene.jpg"
    cv2.imwrite(str(path), frame)
    return path


async def phone(browser: Any, site: Site, user: str) -> Any:
    page = await open_page(browser, site, user, "/screens/mobile", width=360, height=640)
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    await page.wait_for_function("document.querySelector('#conn').dataset.state === 'online'", timeout=10000)
    return page


async def test_dispatch_sign_photo_handle_and_the_big_screen_follows(browser: Any, site: Site, tmp_path: Path) -> None:
    screen = await open_page(browser, site, "t1_leader", "/screens/overview")
    await screen.wait_for_selector("body[data-ready='1']", timeout=15000)
    handled = "[data-tile=today] [data-metric=handled]"
    await screen.wait_for_function(f"document.querySelector('{handled}').textContent !== '–'")
    handled_before = int(await screen.text_content(handled))

    page = await phone(browser, site, "t1_worker")
    ev = await site.report(title="幸福路占道经营")
    ev = await site.act("t1_dispatcher", ev, "accept")
    ev = await site.act("t1_dispatcher", ev, "assign", assignee_id=site.ids["t1_worker"])
    await page.wait_for_selector("#banner:not([hidden])", timeout=5000)
    assert "新的交办" in await page.text_content("#banner")
    assert await page.text_content("#msgcount") == "1"
    await page.wait_for_selector(f"#todo li[data-event='{ev['id']}']", timeout=5000)
    await screenshot(page, "mobile-dispatch")

    await page.click(f"#todo li[data-event='{ev['id']}']")
    await page.click("button[data-do=sign]")
    await page.wait_for_selector("button[data-do=handle]", timeout=5000)
    await page.click("button[data-do=handle]")
    await page.fill("textarea[name=result]", "已劝离,恢复通行")
    await page.set_input_files("#actform input[name=photos]", str(photo_file(tmp_path)))
    await page.click("#actform button[type=submit]")
    await page.wait_for_function("document.querySelector('#sheet').textContent.includes('待核查')", timeout=10000)
    await page.wait_for_selector("#sheet .thumbs img", timeout=5000)
    await screenshot(page, "mobile-handled")

    detail = (await site.http.get(f"/api/v1/events/{ev['id']}", headers=site.h("t1_dispatcher"))).json()
    assert detail["state"] == "pending_verify" and detail["result_text"] == "已劝离,恢复通行"
    photos = [m for m in detail["media"] if m["kind"] == "photo"]
    assert len(photos) == 1 and photos[0]["content_type"] == "image/jpeg"
    await screen.wait_for_function(
        f"document.querySelector('{handled}').textContent === '{handled_before + 1}'", timeout=5000
    )
    assert page.errors == [] and screen.errors == []


async def test_a_dispatch_made_while_offline_arrives_after_reconnecting(browser: Any, site: Site) -> None:
    page = await phone(browser, site, "t1_worker2")
    await page.context.set_offline(True)
    await page.evaluate("window.dispatchEvent(new Event('offline'))")
    await page.wait_for_function("document.querySelector('#conn').dataset.state !== 'online'", timeout=15000)
    ev = await site.report("t1_worker2", title="积水严重", grid_code="330100001002001")
    ev = await site.act("t1_dispatcher", ev, "accept")
    ev = await site.act("t1_dispatcher", ev, "assign", assignee_id=site.ids["t1_worker2"])
    await page.wait_for_timeout(1000)
    assert await page.text_content("#msgcount") == ""
    await page.context.set_offline(False)
    await page.wait_for_function("document.querySelector('#conn').dataset.state === 'online'", timeout=20000)
    await page.wait_for_selector("#banner:not([hidden])", timeout=10000)
    assert "积水严重" in await page.text_content("#banner")
    await page.wait_for_selector(f"#todo li[data-event='{ev['id']}']", timeout=5000)
    # Acknowledged once kept on the phone: a reload shows it from the phone and the server sends it no more.
    await page.reload()
    await page.wait_for_selector("body[data-ready='1']", timeout=15000)
    await page.wait_for_timeout(1500)
    assert await page.text_content("#msgcount") == "1"
    assert int(await page.evaluate("document.body.dataset.alerts || '0'")) == 0


async def test_a_report_is_filed_once_whatever_happens_to_its_photos(browser: Any, site: Site, tmp_path: Path) -> None:
    """上报 with a file that is no picture files nothing; with a photo whose upload fails, the event is filed once
    and the next tap sends only the photo to it."""

    async def filed(title: str) -> list[dict[str, Any]]:
        r = await site.http.get(
            "/api/v1/events", params={"view": "pending", "page_size": 200}, headers=site.h("t1_dispatcher")
        )
        return [e for e in r.json()["items"] if e["title"] == title]

    page = await phone(browser, site, "t1_worker")
    await page.click("button[data-tab=report]")
    text = tmp_path / "notes.jpg"
    text.write_text("这不是图片")
    await page.fill("#reportform input[name=title]", "路灯损坏无照明")
    await page.set_input_files("#reportform input[name=photos]", str(text))
    await page.click("#reportbtn")
    await page.wait_for_function("document.querySelector('#reporterror').textContent.includes('只能上传照片')")
    assert await filed("路灯损坏无照明") == []

    # the photo's upload fails (the phone's link drops on it): the event is filed, the next tap sends the photo only
    await page.route("**/api/v1/events/*/media", lambda route: route.abort())
    await page.set_input_files("#reportform input[name=photos]", str(photo_file(tmp_path)))
    await page.click("#reportbtn")
    await page.wait_for_function("document.querySelector('#reporterror').textContent.includes('事件已上报')")
    [event] = await filed("路灯损坏无照明")
    assert f"补传照片(事件 {event['id']})" in await page.text_content("#reportbtn")
    await page.unroute("**/api/v1/events/*/media")
    await page.click("#reportbtn")
    await page.wait_for_function("document.querySelector('#reportbtn').textContent === '上报事件'")
    assert await page.text_content("#reporterror") == ""
    assert [e["id"] for e in await filed("路灯损坏无照明")] == [event["id"]]
    detail = (await site.http.get(f"/api/v1/events/{event['id']}", headers=site.h("t1_dispatcher"))).json()
    assert [m["kind"] for m in detail["media"]] == ["photo"]
    assert page.errors == []
