"""Fixtures of the realtime tests: a private Redis per module and hub settings per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.realtime.helpers import SECRET, RedisProc


@pytest.fixture(scope="module")
def redis_proc() -> Iterator[RedisProc]:
    proc = RedisProc()
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


def make_settings(data_dir: Path, *, redis_url: str = "", database_url: str = "", **kw: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "secret_key": SECRET,
        "redis_url": redis_url,
        "database_url": database_url,
        "relay_poll_s": 0.05,
        "dispatch_redeliver_s": 0.6,
        "ws_heartbeat_s": 5.0,
        **kw,
    }
    return Settings(**values)  # type: ignore[arg-type]
