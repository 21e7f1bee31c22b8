"""The suggested threshold of the precision report (accepted ÷ decided per rule)."""

from __future__ import annotations

from vision.precision import suggest_threshold


def test_suggested_threshold_reaches_the_target_precision() -> None:
    # Accepted candidates score high, rejected ones low: the lowest score keeping 90 % precision is 0.7.
    decided = [(0.9, True), (0.85, True), (0.8, True), (0.75, True), (0.7, True), (0.6, False), (0.55, False)]
    assert suggest_threshold(decided, 0.9) == 0.7
    assert suggest_threshold(decided, 0.8) == 0.6  # 5 of 6 at or above 0.6; 5 of 7 at 0.55 is too few
    assert suggest_threshold(decided[:4], 0.9) is None  # too few decisions to say
    assert suggest_threshold([(0.9, False)] * 6, 0.5) is None  # no threshold reaches the target
