"""The hub's garbage-collector policy: freeze as connections accumulate, thaw and collect after churn."""

from __future__ import annotations

import gc

from hub.gcwatch import FreezePolicy


def test_freezes_every_n_opens_and_thaws_after_churn() -> None:
    policy = FreezePolicy(freeze_every=10, churn_fraction=0.5)
    try:
        for _ in range(40):
            policy.on_open()
        assert policy.freezes == 4 and gc.get_freeze_count() > 0
        open_now = 40
        for _ in range(19):
            open_now -= 1
            policy.on_close(open_now)
        assert policy.thaws == 0, "under half of the connections churned"
        open_now -= 1
        policy.on_close(open_now)
        assert policy.thaws == 1 and gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
