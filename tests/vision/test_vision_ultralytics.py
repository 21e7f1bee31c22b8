"""The ultralytics backend (optional extra) through the same pipeline, with a model built from its YAML.

Weights cannot be downloaded here: the network is yolo11n.yaml's architecture, untrained, so the test
checks the path (load, predict, export, track, rules, sink), not what it finds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ultralytics", reason="the ultralytics extra is not installed")

from tests.vision.footage import decoded, frames
from vision.detectors import ModelError, load_detector
from vision.motion import MotionGate
from vision.pipeline import CameraLoop, Stages
from vision.rules import RuleIn, RuleSet
from vision.tracking import Tracker


class _Sink:
    def __init__(self) -> None:
        self.frames = 0
        self.boxes = 0

    async def detections(self, frame, detections, tracks) -> None:  # type: ignore[no-untyped-def]
        self.frames += 1
        self.boxes += len(detections)

    async def fired(self, frame, firing, tracks) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture(scope="module")
def yolo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    workdir = tmp_path_factory.mktemp("yolo")
    cwd = Path.cwd()
    import os

    os.chdir(workdir)  # ultralytics writes exports next to the model
    try:
        yield load_detector("ultralytics", "yolo11n.yaml", imgsz=320), workdir
    finally:
        os.chdir(cwd)


def test_a_yaml_built_model_runs_through_the_pipeline(yolo) -> None:  # type: ignore[no-untyped-def]
    detector, _ = yolo
    assert detector.task == "detect" and detector.labels[0] == "person" and len(detector.labels) == 80
    rules = RuleSet("UTC")
    rules.replace({1: RuleIn(name="any", kind="intrusion", min_score=0.0)})
    sink = _Sink()
    loop = CameraLoop(Stages(detector, Tracker(fps=5), rules, MotionGate(), None), sink)

    async def run() -> None:
        for frame in frames(3, fps=5, limit=40):
            await loop.step(frame)

    asyncio.run(run())
    assert loop.stats.frames == 20 and loop.stats.detected == sink.frames >= 15
    found = detector.detect(decoded()[0], min_score=0.0)  # untrained: low scores, but real boxes in the frame
    assert found and all(0 <= d.box[0] <= d.box[2] <= 768 for d in found)


def test_export_to_onnx_and_openvino_and_load_them(yolo) -> None:  # type: ignore[no-untyped-def]
    detector, _ = yolo
    image = np.ascontiguousarray(decoded()[0])
    onnx_path = detector.export("onnx")
    assert onnx_path.suffix == ".onnx" and onnx_path.is_file()
    onnx_model = load_detector("ultralytics", onnx_path, imgsz=320)
    assert onnx_model.task == "detect"
    assert isinstance(onnx_model.detect(image, min_score=0.0), list)
    try:
        ov_path = detector.export("openvino")
    except Exception as exc:  # pragma: no cover - openvino not installed
        pytest.skip(f"openvino export unavailable: {exc}")
    assert ov_path.is_dir() and any(ov_path.glob("*.xml"))
    assert isinstance(load_detector("ultralytics", ov_path, imgsz=320).detect(image, min_score=0.0), list)


def test_missing_corrupt_and_wrong_task_models(tmp_path: Path) -> None:
    from ultralytics import YOLO

    with pytest.raises(ModelError, match=r"yolo11n\.pt: no such file"):
        load_detector("ultralytics", tmp_path / "yolo11n.pt")  # a well-known name: never downloaded
    (tmp_path / "broken.pt").write_bytes(b"garbage" * 50)
    with pytest.raises(ModelError, match=r"broken\.pt: not a readable YOLO model"):
        load_detector("ultralytics", tmp_path / "broken.pt")
    YOLO("yolo11n-cls.yaml").save(tmp_path / "classifier.pt")
    with pytest.raises(ModelError, match=r"classifier\.pt: is a classify model, not an object detector"):
        load_detector("ultralytics", tmp_path / "classifier.pt")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ModelError, match="OpenVINO"):
        load_detector("ultralytics", tmp_path / "empty_dir")


def test_detect_command_with_a_yolo_model_prints_only_json_lines(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from tests.vision.footage import FOOTAGE

    root = Path(__file__).resolve().parents[2]
    args = ["detect", str(FOOTAGE), "--backend", "ultralytics", "--model", "yolo11n.yaml", "--max-frames", "2"]
    proc = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args, "--min-score", "0.0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]  # nothing but JSON on stdout
    assert [x["frame"] for x in lines] == [0, 1]


def test_export_model_command_quantizes_to_int8_on_pictures_of_the_cameras(tmp_path: Path) -> None:
    """`gridhub export-model --int8` calibrates on the given pictures (a folder of snapshots here), writes an
    OpenVINO INT8 model (FakeQuantize nodes in the graph), and that model detects through the same detector."""
    pytest.importorskip("nncf", reason="NNCF (the ultralytics extra) is not installed")
    import os
    import subprocess
    import sys

    import cv2
    import openvino as ov

    root = Path(__file__).resolve().parents[2]
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    for i, frame in enumerate(decoded(8)):
        cv2.imwrite(str(snapshots / f"{i}.jpg"), frame)
    command = [sys.executable, "-m", "hub.cli", "export-model", "yolo11n.yaml", "--imgsz", "320", "--int8"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [*command, "--calibration", str(snapshots)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    exported = tmp_path / proc.stdout.strip().splitlines()[-1]
    assert exported.name == "yolo11n_int8_openvino_model" and (exported / "metadata.yaml").exists()
    graph = ov.Core().read_model(next(exported.glob("*.xml")))
    assert any(op.get_type_name() == "FakeQuantize" for op in graph.get_ops())  # quantized, not a copy
    detector = load_detector("ultralytics", exported, imgsz=320)
    assert isinstance(detector.detect(decoded(1)[0], min_score=0.0), list)

    # bad input: a calibration source with no picture, and INT8 for ONNX, are refused with a message
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [*command, "--calibration", str(empty)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert proc.returncode == 2 and "no readable picture" in proc.stderr, proc.stderr[-500:]
    proc = subprocess.run(
        [*command, "--format", "onnx"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert proc.returncode == 2 and "int8 quantization is for the openvino format" in proc.stderr, proc.stderr[-500:]
