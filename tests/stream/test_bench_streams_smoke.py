"""Smoke run of bench/streams.py (ingest part): two cameras for a few seconds, so the benchmark keeps working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_streams_ingest_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "streams.py"), "--quick", "--skip-live"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, (proc.stderr[-2000:], report)
    cases = report["ingest"]["cases"]
    ours = [c for c in cases if c["kind"] == "gridhub"]
    theirs = [c for c in cases if c["kind"] == "ffmpeg"]
    assert [c["cameras"] for c in ours] == [2, 1] and len(theirs) == 2
    assert all(c["online"] == c["cameras"] and c["segments"] >= c["cameras"] for c in ours), ours
    assert all(c["online"] == c["cameras"] and c["segments"] >= c["cameras"] for c in theirs), theirs
    assert ours[1]["frames"] > 0  # the decoded case handed out frames
    pair = report["ingest"]["pairs"][0]
    # a ratio wherever the baseline used measurable CPU (ffmpeg copying two streams for two seconds may not, on a
    # fast machine: the kernel counts CPU time in 10 ms ticks)
    assert pair["cpu_ratio_gridhub_over_ffmpeg"] is not None or pair["ffmpeg_cpu_pct_per_camera"] == 0, pair
