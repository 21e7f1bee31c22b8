"""Smoke run of bench/vision.py (--quick, a few frames): the benchmark keeps working and prints its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_vision_bench_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "vision.py"), "--quick", "--frames", "5", "--latency-frames", "5"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["fastestdet@352"]["gridhub_detector"]["ms_mean"] > 0
    assert report["idle_camera_us_per_frame"]["empty_scene"] > 0
    assert report["detection_to_ws_latency"]["messages"] == 5
