"""The small holes of issue 6 item 9: the Redis password in the log, a world-readable secret key while it is
written, a chunked oversized body answered 400, and a uvicorn lower bound below what the hub uses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import Api
from tests.realtime.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def redis_with_password() -> Iterator[tuple[str, str]]:
    password = "s3cret-Redis-pw"
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--requirepass", password],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        time.sleep(0.05)
    try:
        yield f"redis://:{password}@127.0.0.1:{port}/0", password
    finally:
        proc.kill()
        proc.wait()


async def test_the_redis_password_is_not_logged(
    redis_with_password: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from hub.app import create_app
    from hub.migrations import upgrade
    from hub.settings import Settings

    url, password = redis_with_password
    settings = Settings(data_dir=tmp_path, redis_url=url, secret_key="k" * 40)
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    app = create_app(settings)
    with caplog.at_level(logging.INFO):
        async with app.router.lifespan_context(app):
            assert await app.state.realtime.ready(), "the hub reaches the password-protected Redis"
    ready = [r.getMessage() for r in caplog.records if "gridhub ready" in r.getMessage()]
    assert ready and "127.0.0.1" in ready[0] and ":***@" in ready[0]
    assert not [r for r in caplog.records if password in r.getMessage()]


_watching: list[Path] = []
_modes_seen: list[tuple[str, str, int]] = []
_inside: list[bool] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    """At every file-system step (before it runs), the modes of the files in the watched directory."""
    if not _watching or _inside or not event.startswith(("open", "os.")):
        return
    _inside.append(True)
    try:
        for name in os.listdir(_watching[0]):
            with contextlib.suppress(FileNotFoundError):
                _modes_seen.append((event, name, stat.S_IMODE(os.stat(_watching[0] / name).st_mode)))
    finally:
        _inside.clear()


@pytest.fixture
def watch_files(tmp_path: Path) -> Iterator[list[tuple[str, str, int]]]:
    if not getattr(sys, "_gridhub_audit_hook", False):
        sys.addaudithook(_audit)  # audit hooks cannot be removed: it does nothing unless a test watches
        sys._gridhub_audit_hook = True  # type: ignore[attr-defined]
    old_umask = os.umask(0o022)
    _modes_seen.clear()
    _watching.append(tmp_path)
    try:
        yield _modes_seen
    finally:
        _watching.clear()
        os.umask(old_umask)


def test_secret_key_is_never_readable_by_others(tmp_path: Path, watch_files: list[tuple[str, str, int]]) -> None:
    from hub.settings import Settings

    key = Settings(data_dir=tmp_path).signing_key
    _watching.clear()
    assert len(key) > 40
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"], "no temporary file left behind"
    exposed = [seen for seen in watch_files if seen[2] & 0o077]
    assert watch_files and not exposed, f"readable by others while being written: {exposed[:3]}"
    # A second hub (same data dir) reads the same key.
    assert Settings(data_dir=tmp_path).signing_key == key


async def test_chunked_oversized_body_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(40):
            yield b"x" * 64 * 1024  # 2.5 MiB in all, over the 1 MiB limit; no Content-Length
        yield b'"}'

    r = await api.client.post(
        "/api/v1/events", content=chunks(), headers={**api.auth("t1_worker"), "Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"


def test_uvicorn_lower_bound_allows_only_versions_with_what_the_hub_uses() -> None:
    """hub/cli.py serves /ws with uvicorn's sans-I/O websockets protocol, added in uvicorn 0.35.0."""
    assert 'ws="websockets-sansio"' in (ROOT / "hub" / "cli.py").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    uvicorn = next(Requirement(d) for d in project["dependencies"] if re.match(r"uvicorn\b", d))
    lower = [Version(s.version) for s in uvicorn.specifier if s.operator in (">=", "==", "~=")]
    assert lower and min(lower) >= Version("0.35.0"), str(uvicorn)
