"""The clip around the moment (contract C4 ``clip``) is attached to the candidate event when the recorder has it."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from stream import recordings
from stream.frames import Frame
from tests.conftest import Api
from tests.vision.footage import FOOTAGE, decoded
from vision.reporting import EventReporter
from vision.rules import Firing
from vision.tracking import Track


async def test_snapshot_then_clip_from_the_recordings(api: Api, tmp_path: Path) -> None:
    r = await api.post(
        "admin", "/api/v1/cameras", {"name": "录像", "lat": 30.005, "lon": 120.005, "grid_code": "330100001001001"}
    )
    assert r.status_code == 201, r.text
    camera_id = r.json()["id"]
    # A recorded segment covering the last 20 s and the next 10 (the bundled footage, 30 s long).
    now = time.time()
    previous = recordings.store()
    store = recordings.configure(tmp_path / "recordings")
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    segment = store.camera_dir(camera_id) / day / f"{int((now - 20) * 1000)}-{int((now + 10) * 1000)}.mp4"
    segment.parent.mkdir(parents=True)
    shutil.copyfile(FOOTAGE, segment)

    app = api.client._transport.app  # type: ignore[attr-defined]
    reporter = EventReporter(
        session_factory=app.state.session_factory,
        taxonomy=app.state.taxonomy,
        data_dir=app.state.settings.data_dir,
        clip=recordings.clip,
        clip_before_s=4,
        clip_after_s=1,
        zone=ZoneInfo("Asia/Shanghai"),
    )
    await reporter.start()
    try:
        track = Track(1, "person", 0.9, (100.0, 100.0, 140.0, 220.0))
        firing = Firing(-1, "入侵", "intrusion", "080101", "normal", now - 8, [track], "1 person in the zone", 0.9)
        await reporter.submit(Frame(camera_id, 0, now - 8, decoded()[0]), firing, [track], None)
        await reporter.drain()
        assert reporter.reported == 1
        deadline = time.monotonic() + 20
        while True:
            r = await api.get("admin", "/api/v1/events", params={"view": "pending", "page_size": 200})
            events = [e for e in r.json()["items"] if e.get("camera_id") == camera_id]
            detail = (await api.get("admin", f"/api/v1/events/{events[0]['id']}")).json()
            kinds = sorted(m["kind"] for m in detail["media"])
            if kinds == ["clip", "snapshot"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        assert kinds == ["clip", "snapshot"], detail["media"]
        # the description says when in the site's time, whatever this server's own zone
        fired = datetime.fromtimestamp(now - 8, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
        assert f"于 {fired} 触发规则「入侵」" in detail["description"], detail["description"]
        clip = next(m for m in detail["media"] if m["kind"] == "clip")
        body = await api.get("admin", clip["url"])
        assert body.status_code == 200 and body.headers["content-type"] == "video/mp4"
        assert body.content[4:8] == b"ftyp" and len(body.content) == clip["size"]
    finally:
        await reporter.stop()
        recordings._store = previous  # the process-wide store as other tests left it
