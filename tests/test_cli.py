"""The command line as a user runs it: `gridhub demo` answers with demo data; `db upgrade`, `user add`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

GRIDHUB = [sys.executable, "-m", "hub.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gridhub exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDHUB_")}
    env["GRIDHUB_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_demo_answers_with_demo_data(clean_env: dict[str, str], tmp_path: Path) -> None:
    from hub.seed import DEMO_LOGINS, DEMO_PASSWORD

    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [*GRIDHUB, "demo", "--port", str(port), "--analytics-port", str(free_port())],
        env=clean_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/readyz", proc)
        username = next(login.username for login in DEMO_LOGINS if login.username == "county_dispatcher")
        token = httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        closed = httpx.get(f"{base}/api/v1/events", params={"view": "area_closed"}, headers=headers).json()
        assert closed["total"] > 1000, "a year of demo events is there"
        event = httpx.get(f"{base}/api/v1/events/{closed['items'][0]['id']}", headers=headers).json()
        assert event["timeline"][0]["action"] == "report" and event["timeline"][-1]["to_state"] == "closed"
        towns = httpx.get(f"{base}/api/v1/jurisdictions", params={"level": "town"}, headers=headers).json()
        assert len(towns) >= 8
        # a few cameras play the bundled footage: online, with a picture
        demo = httpx.get(f"{base}/api/v1/cameras", params={"tag": "demo"}, headers=headers).json()["items"]
        assert len(demo) >= 4
        deadline = time.monotonic() + 20
        while True:
            camera = httpx.get(f"{base}/api/v1/cameras/{demo[0]['id']}", headers=headers).json()
            if camera["status"] == "online" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert camera["status"] == "online" and camera["stream"]["width"] == 768, camera
        snap = httpx.get(f"{base}/api/v1/cameras/{demo[0]['id']}/snapshot.jpg", headers=headers, timeout=15)
        assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    output = (tmp_path / "demo.log").read_text()
    assert "demo logins" in output and DEMO_PASSWORD in output


def gridhub(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRIDHUB, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def test_db_upgrade_and_user_add(clean_env: dict[str, str]) -> None:
    run = gridhub(clean_env, "db", "upgrade")
    assert run.returncode == 0, run.stderr
    run = gridhub(clean_env, "user", "add", "zhang", "--role", "admin", "--password-stdin", stdin="Strong2026pw\n")
    assert run.returncode == 2 and "jurisdiction tree is empty" in run.stderr
    seed = gridhub(clean_env, "seed", "--events", "200", "--cameras", "20")
    assert seed.returncode == 0, seed.stderr
    weak = gridhub(clean_env, "user", "add", "zhang", "--role", "admin", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least 8 characters" in weak.stderr
    ok = gridhub(clean_env, "user", "add", "zhang", "--role", "dispatcher", "--password-stdin", stdin="Zhang2026pw\n")
    assert ok.returncode == 0 and "created user zhang" in ok.stdout, ok.stderr
    again = gridhub(clean_env, "seed", "--events", "10")
    assert again.returncode == 2 and again.stderr.strip()
