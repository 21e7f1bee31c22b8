"""事件处理统计: the metrics move as the workflow moves; exports open as CSV and Excel."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from tests.conftest import Api

TOWN2, GRID2 = "330100002", "330100002001001"


async def _stats(api: Api, user: str = "county_dispatcher", **params: str) -> dict:
    r = await api.get(user, "/api/v1/stats/events", params={"jurisdiction": "330100", **params})
    assert r.status_code == 200, r.text
    return r.json()


def _town(stats: dict) -> dict:
    return next(row for row in stats["rows"] if row["code"] == TOWN2)


async def test_metrics_follow_the_workflow(api: Api) -> None:
    before = _town(await _stats(api))
    disp, worker = "t2_dispatcher", "t2_worker"
    worker_id = api.user_ids[worker]
    a = await api.report(worker, grid_code=GRID2)
    b = await api.report(worker, grid_code=GRID2)
    a = await api.act(disp, a, "accept")
    a = await api.act(disp, a, "assign", assignee_id=worker_id)
    a = await api.act(worker, a, "sign")
    a = await api.act(worker, a, "handle", result="已处理")
    a = await api.act(disp, a, "verify", passed=True)
    a = await api.act(worker, a, "evaluate", rating=5)
    b = await api.act(disp, b, "accept")
    b = await api.act(disp, b, "assign", assignee_id=worker_id)

    stats = await _stats(api)
    after = _town(stats)
    delta = {
        k: after[k] - before[k] for k in ("new", "signed", "handled", "assigned", "closed", "verified", "evaluated")
    }
    assert delta == {"new": 2, "signed": 1, "handled": 1, "assigned": 2, "closed": 1, "verified": 1, "evaluated": 1}
    assert after["transferred"] == before["transferred"]
    assert 0 < after["close_rate"] <= 1 and after["satisfaction_rate"] is not None
    assert after["on_time_rate"] is not None
    assert stats["total"]["new"] == sum(row["new"] for row in stats["rows"])
    explained = {m["key"]: m for m in stats["metrics"]}
    assert explained["sign_rate"]["name"] == "新增签收率" and explained["sign_rate"]["explanation"]


async def test_exports_and_access(api: Api) -> None:
    r = await api.get("county_dispatcher", "/api/v1/stats/events", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert table[0][:3] == ["辖区", "编码", "新增事件量"] and len(table) == 1 + 1 + 2  # header, total, two towns
    r = await api.get("county_dispatcher", "/api/v1/stats/events", params={"format": "xlsx"})
    book = load_workbook(io.BytesIO(r.content))
    assert book["事件处理统计"]["A1"].value == "辖区" and book["指标说明"].max_row == 16
    r = await api.get("t1_dispatcher", "/api/v1/stats/events", params={"jurisdiction": TOWN2})
    assert r.status_code == 404
    r = await api.get("t1_dispatcher", "/api/v1/stats/events", params={"start": "2026-05-02", "end": "2026-05-01"})
    assert r.status_code == 422
    grid_level = await api.get("t1_worker", "/api/v1/stats/events")
    assert grid_level.status_code == 200 and grid_level.json()["rows"] == []
