"""`gridhub detect SOURCE` as a user runs it: one JSON line per frame; clear errors for bad models/sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2

from tests.vision.footage import FOOTAGE, decoded

ROOT = Path(__file__).resolve().parents[2]


def gridhub(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRIDHUB_DATA_DIR": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def test_detect_prints_one_json_line_per_frame_of_a_video(tmp_path: Path) -> None:
    r = gridhub("detect", str(FOOTAGE), "--max-frames", "5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["frame"] for x in lines] == [0, 1, 2, 3, 4]
    assert lines[1]["ts"] == 0.1
    for line in lines:
        assert set(line) == {"frame", "ts", "detections"}
        people = [d for d in line["detections"] if d["label"] == "person"]
        assert len(people) >= 2 and all(set(d) == {"label", "score", "box"} and len(d["box"]) == 4 for d in people)


def test_detect_on_an_image_and_clear_errors(tmp_path: Path) -> None:
    image = tmp_path / "frame.jpg"
    cv2.imwrite(str(image), decoded()[100])
    r = gridhub("detect", str(image), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (line,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert line["frame"] == 0 and any(d["label"] == "person" for d in line["detections"])

    r = gridhub("detect", str(image), "--model", str(tmp_path / "missing.onnx"), cwd=tmp_path)
    assert r.returncode == 2 and "missing.onnx: no such file" in r.stderr
    (tmp_path / "broken.onnx").write_bytes(b"not onnx at all")
    r = gridhub("detect", str(image), "--model", str(tmp_path / "broken.onnx"), cwd=tmp_path)
    assert r.returncode == 2 and "broken.onnx: not a readable ONNX model" in r.stderr
    r = gridhub("detect", str(tmp_path / "nothing.mp4"), cwd=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr
    (tmp_path / "fake.mp4").write_bytes(b"\x00" * 1000)
    r = gridhub("detect", str(tmp_path / "fake.mp4"), cwd=tmp_path)
    assert r.returncode == 2 and "not a readable video" in r.stderr
    assert "Traceback" not in r.stderr
