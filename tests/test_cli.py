"""The command line as a user runs it: `gridhub demo` answers with demo data; `db upgrade`, `user add`."""

from __future__ import annotations

import json
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


def run_demo(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [*GRIDHUB, "demo", "--port", str(port), "--analytics-port", str(free_port())],
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(f"{base}/readyz", proc)
    return proc, base


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_demo_answers_with_demo_data(clean_env: dict[str, str], tmp_path: Path) -> None:
    from hub.seed import DEMO_LOGINS

    proc, base = run_demo(clean_env, tmp_path / "demo.log")
    try:
        stored = Path(clean_env["GRIDHUB_DATA_DIR"]) / "demo-logins.json"
        assert stored.stat().st_mode & 0o777 == 0o600, "the demo passwords are readable by their owner only"
        passwords = json.loads(stored.read_text())
        assert set(passwords) == {login.username for login in DEMO_LOGINS}
        assert len(set(passwords.values())) == len(passwords), "one password per account"
        username = "county_dispatcher"
        token = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": username, "password": passwords[username]}
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        closed = httpx.get(f"{base}/api/v1/events", params={"view": "area_closed"}, headers=headers).json()
        assert closed["total"] > 1000, "a year of demo events is there"
        event = httpx.get(f"{base}/api/v1/events/{closed['items'][0]['id']}", headers=headers).json()
        assert event["timeline"][0]["action"] == "report" and event["timeline"][-1]["to_state"] == "closed"
        towns = httpx.get(f"{base}/api/v1/jurisdictions", params={"level": "town"}, headers=headers).json()
        assert len(towns) >= 8
        for public in ("Gridhub2018", "Gridhub2026"):  # the one password every install used to share
            r = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": public})
            assert r.status_code == 401
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
        stop(proc)
    output = (tmp_path / "demo.log").read_text()
    assert "demo logins" in output
    for login in DEMO_LOGINS:
        assert f"{login.username:<24} {passwords[login.username]}" in output

    proc, base = run_demo(clean_env, tmp_path / "again.log")  # a restart prints the same logins
    stop(proc)
    again = (tmp_path / "again.log").read_text()
    assert "seeding" not in again and all(password in again for password in passwords.values())


def test_demo_passwords_are_per_install_and_kept(tmp_path: Path) -> None:
    from hub.seed import demo_passwords

    first = demo_passwords(tmp_path / "one")
    assert demo_passwords(tmp_path / "one") == first, "a restart reads the same ones"
    assert (tmp_path / "one" / "demo-logins.json").stat().st_mode & 0o777 == 0o600
    assert not set(demo_passwords(tmp_path / "two").values()) & set(first.values()), "another install: others"
    assert demo_passwords(tmp_path / "three", create=False) == {}


def gridhub(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRIDHUB, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def test_db_upgrade_user_add_and_reset(clean_env: dict[str, str]) -> None:
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

    # Seeded accounts carry no known password; `user reset` gives one; a hotline service account reports.
    hotline = gridhub(
        clean_env,
        "user",
        "add",
        "hotline12345",
        "--role",
        "service",
        "--source",
        "hotline",
        "--password-stdin",
        stdin="Hotline2026gw\n",
    )
    assert hotline.returncode == 0 and "created user hotline12345" in hotline.stdout, hotline.stderr
    nosource = gridhub(clean_env, "user", "add", "x", "--role", "service", "--password-stdin", stdin="Hotline2026gw\n")
    assert nosource.returncode == 2 and "report source" in nosource.stderr
    reset = gridhub(clean_env, "user", "reset", "admin")
    assert reset.returncode == 0, reset.stderr
    temporary = reset.stdout.split("temporary password of admin: ")[1].split()[0]
    assert gridhub(clean_env, "user", "reset", "nobody").returncode == 2
    chosen = gridhub(clean_env, "user", "reset", "county_dispatcher", "--password-stdin", stdin="Chosen2026pw\n")
    assert chosen.returncode == 0, chosen.stderr
    verify = gridhub(clean_env, "audit", "verify")  # the account changes above are chained audit rows
    assert verify.returncode == 0, verify.stdout + verify.stderr

    port = free_port()
    proc = subprocess.Popen(
        [*GRIDHUB, "serve", "--port", str(port)], env=clean_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/readyz", proc)
        login = f"{base}/api/v1/auth/login"
        for name in ("town01_dispatcher", "leader", "grid_worker_001"):
            for guess in ("Gridhub2018", "Gridhub2026", ""):
                assert httpx.post(login, json={"username": name, "password": guess or "x"}).status_code == 401
        r = httpx.post(login, json={"username": "admin", "password": temporary})
        assert r.status_code == 200 and r.json()["must_change_password"] is True
        r = httpx.post(login, json={"username": "county_dispatcher", "password": "Chosen2026pw"})
        assert r.status_code == 200 and r.json()["must_change_password"] is False
        r = httpx.post(login, json={"username": "hotline12345", "password": "Hotline2026gw"})
        token = {"Authorization": f"Bearer {r.json()['access_token']}"}
        town = httpx.get(f"{base}/api/v1/jurisdictions", params={"level": "grid"}, headers=token).json()[0]
        event = httpx.post(
            f"{base}/api/v1/events",
            json={"title": "12345转办: 噪音扰民", "category_code": "010101", "grid_code": town["code"]},
            headers=token,
        )
        assert event.status_code == 201 and event.json()["source"] == "hotline", event.text
    finally:
        stop(proc)
