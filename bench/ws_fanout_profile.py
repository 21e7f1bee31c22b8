"""Summarise a py-spy raw (collapsed stacks) profile: where the hub's time goes, self and inclusive.

    python bench/ws_fanout_profile.py PROFILE.txt [--top 25] [--strip-lines]

``bench/ws_fanout.py --profile DIR`` writes ``DIR/gridhub-N.txt`` with ``py-spy record --format raw``.
Idle samples (the event loop waiting in epoll/select) are reported apart so the percentages are of busy time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(select|poll|epoll_wait|_run_once \(asyncio|run_forever)\b")
LINE_NO = re.compile(r":\d+\)$")


def load(path: Path, strip_lines: bool) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        head, _, count = line.rpartition(" ")
        if not head or not count.isdigit():
            continue
        frames = head.split(";")
        if strip_lines:
            frames = [LINE_NO.sub(")", f) for f in frames]
        stacks.append((frames, int(count)))
    return stacks


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(c for _, c in stacks)
    idle = sum(c for frames, c in stacks if frames and IDLE.search(frames[-1]))
    busy = total - idle or 1
    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for frames, c in stacks:
        if frames and IDLE.search(frames[-1]):
            continue
        self_t[frames[-1]] += c
        for f in set(frames):
            incl[f] += c
    out = [f"samples {total}, idle {idle} ({100 * idle / max(total, 1):.1f} %), busy {busy}", "", "self (% of busy):"]
    out += [f"  {100 * c / busy:5.1f}  {f}" for f, c in self_t.most_common(top)]
    out += ["", "inclusive (% of busy):"]
    out += [f"  {100 * c / busy:5.1f}  {f}" for f, c in incl.most_common(top)]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--strip-lines", action="store_true", help="merge frames of one function across lines")
    args = p.parse_args()
    print(summarise(load(args.profile, args.strip_lines), args.top))


if __name__ == "__main__":
    main()
