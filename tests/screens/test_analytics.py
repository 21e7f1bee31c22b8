"""统计分析: `gridhub analytics` (Streamlit) shows a month's 事件处理统计 with 指标说明, reached from the console."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from tests.realtime.helpers import free_port
from tests.screens.conftest import Site, open_page, screenshot


async def test_analytics_shows_the_month_and_explanations(browser: Any, site: Site) -> None:
    ev = await site.report(title="人民路暴露垃圾")
    await site.act("t1_dispatcher", ev, "accept")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "analytics", "--port", str(port), "--hub", site.base],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"{url}/_stcore/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "streamlit did not start"
                assert proc.poll() is None, "gridhub analytics exited"
                await asyncio.sleep(0.5)
        page = await open_page(browser, site, "leader", "/screens/console")
        await page.goto(f"{url}/?token={site.tokens['leader']}")
        await page.wait_for_selector("text=事件处理统计", timeout=30000)
        await page.wait_for_selector("text=指标说明", timeout=30000)
        await page.wait_for_function("document.body.innerText.includes('N 中至今已办结的事件数')", timeout=30000)
        await page.wait_for_selector("[data-testid=stDataFrame]", timeout=30000)
        await page.wait_for_timeout(1500)
        await screenshot(page, "analytics")
        # The console's link carries the user there.
        r = await site.http.get("/screens/analytics", params={"token": "abc"}, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"].endswith("?token=abc")
    finally:
        proc.terminate()
        proc.wait(10)
