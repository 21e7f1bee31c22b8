"""Streams benchmark (issue 7, must-show 3): one command, one JSON, every part with its baseline.

    python bench/streams.py [--quick] [--skip-live] [--skip-ingest] [--out FILE]

Runs, one after the other (each part bounded in time, loopback only, its own processes killed at the end):

* ``ingest`` (bench/streams_ingest.py): cameras one hub process ingests and records (and decodes at 5 fps)
  against one ``ffmpeg -c copy`` recorder process per camera; CPU per camera and its ratio to ffmpeg;
* ``live`` (bench/streams_live.py): WebRTC first frame after the click, glass-to-glass latency, a wall of 16.

Each part is a subprocess printing one JSON object; this prints ``{"ingest": …, "live": …}``. A part
that fails shows as ``{"error": …, "stderr_tail": …}`` and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def part(script: str, args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(BENCH / script), *args]
    print(f"[streams] running {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"{script} ran past {timeout:.0f} s"}
    sys.stderr.write(done.stderr[-4000:])
    try:
        return json.loads(done.stdout)
    except ValueError:
        return {"error": f"{script} exited {done.returncode} without JSON", "stderr_tail": done.stderr[-2000:]}


def main() -> None:
    parser = argparse.ArgumentParser(description="gridhub streams benchmark (JSON on stdout)")
    parser.add_argument("--quick", action="store_true", help="small counts and short windows (smoke test)")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "streams"}
    if not args.skip_ingest:
        ingest = ["--cameras", "2", "--decoded", "1", "--warmup", "2", "--window", "2"] if args.quick else []
        result["ingest"] = part("streams_ingest.py", ingest, timeout=180 if args.quick else 1500)
    if not args.skip_live and (BENCH / "streams_live.py").exists():
        live = ["--trials", "2", "--wall", "2", "--window", "3"] if args.quick else []
        result["live"] = part("streams_live.py", live, timeout=300 if args.quick else 1500)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    sys.exit(1 if any(isinstance(v, dict) and "error" in v for v in result.values()) else 0)


if __name__ == "__main__":
    main()
