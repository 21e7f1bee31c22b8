"""Photos taken on the spot: POST /api/v1/events/{id}/media, checked, stored, shown only to those who may see."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.conftest import Api


def tiny_webp() -> bytes:
    return cv2.imencode(".webp", np.zeros((1, 1, 3), np.uint8))[1].tobytes()


def jpeg(width: int = 320, height: int = 240) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    cv2.putText(image, "gridhub", (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
    return cv2.imencode(".jpg", image)[1].tobytes()


async def upload(api: Api, user: str, event_id: int, body: bytes, content_type: str = "image/jpeg") -> object:
    return await api.client.post(
        f"/api/v1/events/{event_id}/media", content=body, headers={**api.auth(user), "Content-Type": content_type}
    )


async def test_a_photo_is_stored_listed_and_served_to_those_who_see_the_event(api: Api) -> None:
    ev = await api.report()
    r = await upload(api, "t1_worker", ev["id"], jpeg())
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["kind"] == "photo" and photo["content_type"] == "image/jpeg" and photo["size"] > 1000
    detail = (await api.get("t1_dispatcher", f"/api/v1/events/{ev['id']}")).json()
    assert [m["id"] for m in detail["media"] if m["kind"] == "photo"] == [photo["id"]]
    served = await api.client.get(photo["url"], params={"token": api.tokens["t1_dispatcher"]})
    assert served.status_code == 200 and served.content == jpeg()
    assert (await api.get("t2_dispatcher", photo["url"])).status_code == 404
    assert (await upload(api, "t2_worker", ev["id"], jpeg())).status_code == 404
    # The photo goes with the handling step as an attachment.
    ev = await api.act("t1_dispatcher", ev, "accept")
    ev = await api.act("t1_dispatcher", ev, "assign", assignee_id=api.user_ids["t1_worker"])
    ev = await api.act("t1_worker", ev, "sign")
    ev = await api.act("t1_worker", ev, "handle", result="已清理完毕", attachments=[{"url": photo["url"]}])
    assert ev["timeline"][-1]["data"].get("attachments") or ev["attachments"]


async def test_what_is_not_a_picture_is_refused_and_only_pictures_are_kept(api: Api, tmp_path: Path) -> None:
    ev = await api.report()
    cases = [
        (b"%PDF-1.4 not a photo", "image/jpeg", 415),
        (jpeg(), "application/pdf", 415),
        (b"\xff\xd8\xff" + b"\x00" * 100, "image/jpeg", 415),  # a JPEG header and nothing behind it
        (b"", "image/png", 415),
        (jpeg(), "text/plain", 415),
        (tiny_webp(), "image/webp", 201),  # one pixel is still a picture (and no decoder crash)
        (b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024), "image/jpeg", 413),
    ]
    for body, content_type, status in cases:
        r = await upload(api, "t1_worker", ev["id"], body, content_type)
        assert r.status_code == status, (content_type, r.status_code, r.text)
        assert status == 201 or r.json()["message"]
    detail = (await api.get("t1_dispatcher", f"/api/v1/events/{ev['id']}")).json()
    assert [m["content_type"] for m in detail["media"]] == ["image/webp"]  # only the real picture was kept


async def test_a_closed_event_takes_no_more_photos(api: Api) -> None:
    ev = await api.report()
    ev = await api.act("t1_dispatcher", ev, "reject", reason="重复上报")
    r = await upload(api, "t1_worker", ev["id"], jpeg())
    assert r.status_code == 409 and "rejected" in r.json()["message"]


async def test_position_of_a_phone_is_kept(api: Api) -> None:
    r = await api.client.put(
        "/api/v1/me/position", json={"lat": 30.0051, "lon": 120.0049}, headers=api.auth("t1_worker")
    )
    assert r.status_code == 204
    for bad in ({"lat": 91, "lon": 0}, {"lat": 30, "lon": 120, "accuracy_m": False}, {"lat": "30", "lon": 120}):
        r = await api.client.put("/api/v1/me/position", json=bad, headers=api.auth("t1_worker"))
        assert r.status_code == 422, bad
