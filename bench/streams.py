"""Streams benchmark (issue 7, must-show 3): one command, one JSON object.

    python bench/streams.py [--only live] [--trials 20] [--wall 16] [--window 10] [--out FILE]

Runs each part in turn and prints ``{"live": …}``. The live-view part is bench/streams_live.py (first
frame after the click, glass-to-glass latency, a 16-camera wall, each with its baseline). The ingest
part (cameras recorded / decoded per hub under 80 % CPU against one ``ffmpeg -c copy`` per camera) is
owned by the streams work and plugs in here as another entry of ``PARTS``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streams_live


def _live(args: argparse.Namespace) -> Awaitable[dict[str, Any]]:
    return streams_live.run(args.trials, args.wall, args.window, args.fps)


PARTS: dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]] = {"live": _live}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "streams"}
    for name, part in PARTS.items():
        if args.only and name not in args.only.split(","):
            continue
        out[name] = await part(args)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="gridhub streams benchmark (JSON on stdout)")
    parser.add_argument("--only", default="", help="comma-separated parts to run (default: all)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--wall", type=int, default=16)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
