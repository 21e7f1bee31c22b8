"""Smoke run of bench/ws_fanout.py: a few clients for a second, so the benchmark itself keeps working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ws_fanout.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, (proc.stderr[-2000:], report)
    return report


def test_ws_fanout_baseline_smoke() -> None:
    report = run_bench("--clients", "40", "--servers", "baseline", "--duration", "1", "--rate", "5", "--drain", "1")
    (case,) = report["cases"]
    assert case["connect"]["connected"] == 40
    assert case["events"]["published"] == 5
    assert case["events"]["received"] == 200
    assert case["events"]["lost"] == 0
    assert case["events"]["latency_ms"]["p99"] is not None


def test_ws_fanout_gridhub_smoke() -> None:
    report = run_bench(
        "--clients", "30", "--servers", "gridhub", "--duration", "2", "--rate", "5", "--drain", "2", "--settle", "1"
    )
    (case,) = report["cases"]
    assert case["connect"]["connected"] == 30
    assert case["events"]["lost"] == 0, case
    assert case["dispatch_probe"]["received"] == case["dispatch_probe"]["published"] > 0


def test_login_storm_smoke() -> None:
    small = ["--clients", "20", "--duration", "2", "--logins", "3", "--rate", "5", "--drain", "1", "--settle", "1"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "login_storm.py"), *small],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, (proc.stderr[-2000:], report)
    (round_,) = report["rounds"]
    assert round_["with_logins"]["extra"]["statuses"] == {"200": 3}
    assert round_["without_logins"]["events"]["lost"] == round_["with_logins"]["events"]["lost"] == 0
    assert round_["p99_ratio"] > 0 and report["result"]["all_logins_succeeded"]


def test_soak_smoke(tmp_path: Path) -> None:
    """bench/soak.py on a tiny run: its JSON says what it measured, and retention emptied the tables."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--events", "4000", "--dispatches", "1000", "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    report = json.loads(proc.stdout)
    assert report["events"] == 4000 and report["acked_dispatches"] == 1000
    assert report["rss_baseline_mb"] > 0 and report["rss_ratio"] > 0
    assert report["outbox_rows_left"] == 0 and report["realtime_dispatch_rows_left"] == 0
