"""The hub's garbage-collector policy: freeze as connections accumulate, thaw and collect after churn."""

from __future__ import annotations

import gc
import weakref

from hub.gcwatch import FreezePolicy, freeze_startup


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_freezes_every_n_opens_and_thaws_after_churn() -> None:
    policy = FreezePolicy(freeze_every=10, churn_fraction=0.5)
    try:
        cycle = Node()
        gone = weakref.ref(cycle)
        for _ in range(40):
            policy.on_open()
        assert policy.freezes == 4 and gc.get_freeze_count() > 0
        del cycle  # garbage now, but frozen: full collections skip it
        gc.collect()
        assert gone() is not None
        open_now = 40
        for _ in range(19):
            open_now -= 1
            policy.on_close(open_now)
        assert policy.thaws == 0, "under half of the connections churned"
        open_now -= 1
        policy.on_close(open_now)
        assert policy.thaws == 1
        assert gone() is None, "the thaw's collection frees the cycles that waited while frozen"
        assert gc.get_freeze_count() > 0, "and what survived it is frozen again"
    finally:
        gc.unfreeze()


def test_startup_freeze_takes_what_the_process_holds_out_of_full_collections() -> None:
    try:
        freeze_startup()
        assert gc.get_freeze_count() > 1000
        assert len(gc.get_objects()) < gc.get_freeze_count() / 10
    finally:
        gc.unfreeze()
