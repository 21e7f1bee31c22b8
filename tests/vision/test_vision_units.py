"""The vision stages on their own: the bundled detector on real footage, bad models and frames, rules."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from stream.frames import Frame
from tests.vision.footage import decoded, frames
from vision.detectors import FrameError, ModelError, load_detector
from vision.detectors.fastestdet import FastestDet
from vision.motion import MotionGate
from vision.pipeline import CameraLoop, Stages
from vision.rules import RuleIn, RuleSet
from vision.tracking import Track, Tracker


@pytest.fixture(scope="module")
def detector() -> FastestDet:
    return FastestDet()


def test_default_detector_finds_the_people_walking_in_vtest(detector: FastestDet) -> None:
    clip = decoded()
    counts = []
    for image in clip[::30]:
        found = detector.detect(image)
        people = [d for d in found if d.label == "person"]
        counts.append(len(people))
        for d in people:
            x1, y1, x2, y2 = d.box
            assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
            assert d.score >= 0.65 and (y2 - y1) > (x2 - x1), "a pedestrian box is taller than wide"
    assert all(c >= 2 for c in counts), counts  # several pedestrians are in every sampled frame
    assert sum(counts) >= 30


def test_grey_and_bgra_frames_are_converted_and_nonsense_refused(detector: FastestDet) -> None:
    image = decoded()[0]
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    assert any(d.label == "person" for d in detector.detect(grey))
    assert any(d.label == "person" for d in detector.detect(bgra))
    small = cv2.resize(image, (160, 120))
    detector.detect(small)  # an unexpected size is fine
    for bad in (image.astype(np.float32), np.zeros((4, 4, 3), np.uint8), np.zeros((10, 10, 2), np.uint8), "x"):
        with pytest.raises(FrameError):
            detector.detect(bad)  # type: ignore[arg-type]


def test_missing_corrupt_and_wrong_task_models_name_the_file(tmp_path) -> None:
    with pytest.raises(ModelError, match=r"nope\.onnx: no such file"):
        load_detector("fastestdet", tmp_path / "nope.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x01garbage" * 100)
    with pytest.raises(ModelError, match=r"corrupt\.onnx: not a readable ONNX model"):
        load_detector("fastestdet", corrupt)
    # A real ONNX model with another task: a tiny identity network built here.
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
    )
    other = tmp_path / "classifier.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), other)
    with pytest.raises(ModelError, match=r"classifier\.onnx: not a FastestDet COCO detector"):
        load_detector("fastestdet", other)
    with pytest.raises(ValueError, match="unknown detector backend"):
        load_detector("darknet")


def _track(i: int, x: float, y: float, label: str = "person", score: float = 0.9) -> Track:
    return Track(i, label, score, (x - 10, y - 40, x + 10, y))


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ([[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]], "crosses itself"),
        ([[0.1, 0.1], [1.2, 0.1], [0.5, 0.8]], "outside the frame"),
        ([[0.1, 0.1], [0.5, 0.5]], "at least 3 points"),
        ([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], "no area"),
    ],
)
def test_bad_zones_are_refused_with_a_reason(zone: list[list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RuleIn(name="z", kind="intrusion", zone=zone)


def test_line_crossing_respects_the_direction() -> None:
    rules = RuleSet("UTC")
    # A vertical line x = 0.5 drawn top → bottom: walking along it a→b (down the picture), one's left hand
    # points to the image's right (x > 0.5). Moving to the image's right is therefore right_to_left.
    rules.replace(
        {
            1: RuleIn(name="r2l", kind="line", line=[[0.5, 0.0], [0.5, 1.0]], direction="right_to_left", cooldown_s=0),
            2: RuleIn(name="any", kind="line", line=[[0.5, 0.0], [0.5, 1.0]], cooldown_s=0),
        }
    )
    fired = []
    for step, x in enumerate([300, 350, 420, 460]):  # walks left → right across x = 400 (of 800)
        fired += [f.rule_name for f in rules.evaluate([_track(7, x, 300)], 100.0 + step, 800, 600)]
    assert sorted(fired) == ["any", "r2l"]
    for step, x in enumerate([300, 360, 440]):  # another person walks right → left
        fired += [f.rule_name for f in rules.evaluate([_track(8, 800 - x, 300)], 200.0 + step, 800, 600)]
    assert sorted(fired) == ["any", "any", "r2l"]


def test_a_burst_of_1000_detections_a_second_raises_one_event_per_cooldown() -> None:
    rules = RuleSet("UTC")
    rules.replace({1: RuleIn(name="intrusion", kind="intrusion", cooldown_s=60, dedupe_s=600)})
    fired = 0
    for i in range(1000):  # 1,000 new objects in one second, each a new track
        fired += len(rules.evaluate([_track(i, 100 + i % 500, 300)], 1000.0 + i / 1000, 800, 600))
    assert fired == 1
    assert len(rules.evaluate([_track(5000, 300, 300)], 1061.0, 800, 600)) == 1  # the cooldown is over


def test_active_hours_min_score_and_size_filter() -> None:
    rules = RuleSet("Asia/Shanghai")
    rules.replace(
        {1: RuleIn(name="night", kind="intrusion", active_hours=["22:00-06:00"], min_score=0.7, min_height=0.1)}
    )
    from datetime import datetime
    from zoneinfo import ZoneInfo

    noon = datetime(2027, 1, 15, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    night = datetime(2027, 1, 15, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    tall = (290.0, 200.0, 310.0, 300.0)  # 100 px of 600: above min_height
    assert rules.evaluate([Track(1, "person", 0.9, tall)], noon, 800, 600) == []
    assert rules.evaluate([Track(2, "person", 0.5, tall)], night, 800, 600) == []
    assert rules.evaluate([Track(3, "person", 0.9, (290, 260, 310, 300))], night, 800, 600) == []  # too small
    assert rules.evaluate([Track(4, "car", 0.9, tall)], night, 800, 600) == []
    assert len(rules.evaluate([Track(5, "person", 0.9, tall)], night, 800, 600)) == 1


class _Collect:
    def __init__(self) -> None:
        self.seen = 0
        self.firings: list[str] = []

    async def detections(self, frame, detections, tracks) -> None:  # type: ignore[no-untyped-def]
        self.seen += 1

    async def fired(self, frame, firing, tracks) -> None:  # type: ignore[no-untyped-def]
        self.firings.append(firing.rule_name)


def test_tracking_keeps_one_id_per_pedestrian_and_gating_skips_still_frames(detector: FastestDet) -> None:
    rules = RuleSet("UTC")
    rules.replace({1: RuleIn(name="loiter", kind="loitering", dwell_s=5, cooldown_s=0)})
    sink = _Collect()
    loop = CameraLoop(Stages(detector, Tracker(fps=5), rules, MotionGate(), frozenset({"person"})), sink)

    async def run() -> None:
        for frame in frames(1, fps=5):
            await loop.step(frame)
        # The same picture again and again: nothing moves, the detector runs only for the 1 s recheck.
        still = decoded()[-1]
        for i in range(50):
            await loop.step(Frame(1, 1000 + i, 1_800_000_100.0 + i / 5, still))
        # A bad frame in the middle of a stream is skipped; the camera goes on.
        await loop.step(Frame(1, 2000, 1_800_000_111.0, np.zeros((3, 3), np.float64)))

    asyncio.run(run())
    stats = loop.stats
    assert stats.bad_frames == 1
    assert stats.gated >= 35, stats  # of the 50 still frames, ~40 never reached the detector
    assert stats.detected >= 150
    # Loitering with cooldown 0 still fires once per track (dedupe), never once per frame.
    assert 1 <= len(sink.firings) <= 10
