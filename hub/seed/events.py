"""Historical events with their timelines, generated in batches of plain tuples (fast to COPY).

The broad shape is drawn with numpy over all N events at once (when, where, which category, from which
source, how it ended); each event's timeline is then walked in Python along the workflow table, so every
action row is a step ``dispatch.workflow`` holds. Open events are the same planned timeline cut at a
state; anything that would end after ``now`` is compressed into the time available.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from dispatch.models import LEVEL_ORDER, Level, Source, State, Urgency
from dispatch.taxonomy import Category, Taxonomy
from dispatch.workflow import Action
from hub.seed import names
from hub.seed.county import County, Node, SeedUser

#: Zhejiang 2018: where closed events were resolved (网格, 村社, 镇街, 县区).
RESOLUTION_SHARES: dict[str, float] = {
    Level.GRID.value: 0.7285,
    Level.VILLAGE.value: 0.1469,
    Level.TOWN.value: 0.10,
    Level.COUNTY.value: 0.0246,
}
_LEVELS_UP = (Level.GRID, Level.VILLAGE, Level.TOWN, Level.COUNTY)
_LEVEL_VALUES = tuple(level.value for level in _LEVELS_UP)

EVENT_COLUMNS: tuple[str, ...] = (
    "id", "title", "description", "category_code", "platform", "urgency", "source", "state",
    "county_code", "town_code", "village_code", "grid_code", "handling_code",
    "lat", "lon", "address", "camera_id", "reporter_id", "assignee_id", "assigned_by_id",
    "deadline_at", "warn_at", "created_at", "updated_at", "accepted_at", "closed_at", "resolution_level",
    "result_text", "reject_reason", "rating", "urge_count", "tags", "attachments", "extension_pending",
    "version",
)  # fmt: skip
EVENT_JSON_COLUMNS = ("tags", "attachments")
ACTION_COLUMNS: tuple[str, ...] = (
    "id", "event_id", "action", "actor_id", "from_state", "to_state", "note", "data", "version", "created_at",
)  # fmt: skip
ACTION_JSON_COLUMNS = ("data",)
EXTENSION_COLUMNS: tuple[str, ...] = (
    "id", "event_id", "requested_by_id", "requested_deadline", "reason", "status", "decided_by_id", "decided_at",
    "created_at",
)  # fmt: skip

#: Relative frequency of each 大类 (street order and sanitation dominate, as in every county's data).
MAJOR_WEIGHTS: dict[str, float] = {
    "01": 25, "02": 8, "03": 6, "04": 5, "05": 22, "06": 2, "07": 8, "08": 10, "09": 6, "10": 3, "11": 4,
    "12": 6,
}  # fmt: skip
#: What the video detector raises: these names, where the taxonomy holds them.
DETECTION_CATEGORY_NAMES = (
    "人员聚集", "占道经营", "车辆违停", "垃圾堆放", "消防通道占用", "暴露垃圾", "非机动车乱停放",
    "店外经营", "流动摊贩", "乱堆物堆料",
)  # fmt: skip
SOURCES = (Source.GRID_WORKER, Source.CITIZEN, Source.HOTLINE, Source.DETECTION, Source.DEPARTMENT)
SOURCE_SHARES = (0.62, 0.14, 0.13, 0.09, 0.02)
URGENCIES = (Urgency.NORMAL, Urgency.URGENT, Urgency.CRITICAL)
_SOURCE_VALUES = tuple(s.value for s in SOURCES)
_URGENCY_VALUES = tuple(u.value for u in URGENCIES)
_GRID_WORKER, _HOTLINE, _DEPARTMENT, _DETECTION = (
    Source.GRID_WORKER.value,
    Source.HOTLINE.value,
    Source.DEPARTMENT.value,
    Source.DETECTION.value,
)

_LOCAL = 8 * 3600  # China Standard Time, UTC+8: people report by local daytime.
#: Reports per local hour of the day (relative).
HOUR_PROFILE = (
    0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 2.0, 4.0, 7.5, 9.5, 9.8, 8.5, 5.0, 6.0, 8.8, 9.0, 8.5, 7.0, 5.0, 4.0,
    3.5, 2.8, 1.8, 1.0,
)  # fmt: skip

# Open-state mixes by age: very recent events are mostly still waiting for the dispatcher.
_OPEN_STATES = (State.PENDING, State.ACCEPTED, State.ASSIGNED, State.IN_PROGRESS, State.PENDING_VERIFY)
_OPEN_MIX_FRESH = (0.45, 0.15, 0.15, 0.18, 0.07)
_OPEN_MIX_OLDER = (0.06, 0.08, 0.16, 0.48, 0.22)


_A_REPORT = Action.REPORT.value
_A_ACCEPT = Action.ACCEPT.value
_A_REJECT = Action.REJECT.value
_A_ASSIGN = Action.ASSIGN.value
_A_ESCALATE = Action.ESCALATE.value
_A_TRANSFER = Action.TRANSFER.value
_A_RETURN = Action.RETURN.value
_A_SIGN = Action.SIGN.value
_A_HANDLE = Action.HANDLE.value
_A_VERIFY = Action.VERIFY.value
_A_EVALUATE = Action.EVALUATE.value
_A_URGE = Action.URGE.value
_A_EXTEND = Action.EXTEND.value
_A_APPROVE_EXTENSION = Action.APPROVE_EXTENSION.value
_S_PENDING = State.PENDING.value
_S_REJECTED = State.REJECTED.value
_S_ACCEPTED = State.ACCEPTED.value
_S_ASSIGNED = State.ASSIGNED.value
_S_IN_PROGRESS = State.IN_PROGRESS.value
_S_PENDING_VERIFY = State.PENDING_VERIFY.value
_S_CLOSED = State.CLOSED.value
_OPEN_STATE_VALUES = tuple(st.value for st in _OPEN_STATES)


@dataclass(slots=True)
class Batch:
    events: list[tuple[Any, ...]]
    actions: list[tuple[Any, ...]]
    extensions: list[tuple[Any, ...]]


def _day_weights(now_ts: float, days: int) -> np.ndarray:
    """Weight of each of the last ``days`` local days: weekdays, a summer peak, the Spring Festival dip."""
    weights = np.empty(days)
    for d in range(days):
        local = datetime.fromtimestamp(now_ts + _LOCAL - d * 86400, UTC)
        doy = local.timetuple().tm_yday
        w = 1.0 if local.weekday() < 5 else (0.68 if local.weekday() == 5 else 0.58)
        w *= 1.0 + 0.22 * math.sin(2 * math.pi * (doy - 105) / 365.0)  # more in summer, fewer in winter
        if 28 <= doy <= 45:  # 春节 (late January to mid February): a long quiet stretch
            w *= 0.55
        w *= 1.0 + 0.15 * (days - d) / days  # adoption grows over the year
        weights[d] = w
    return weights / weights.sum()


class EventGenerator:
    """Draws N events over the year before ``now`` in a county; ``batches()`` yields rows to insert."""

    def __init__(
        self,
        county: County,
        taxonomy: Taxonomy,
        *,
        events: int,
        rng_seed: int,
        now: datetime,
        json_text: bool,
        batch_size: int = 25_000,
    ) -> None:
        self.county = county
        self.n = events
        self.now_ts = now.timestamp()
        self.batch_size = batch_size
        self.rnd = random.Random(rng_seed * 7919 + 1)
        self.np = np.random.default_rng(rng_seed)
        rand = self.rand = self.rnd.random
        gauss = self.rnd.gauss
        self.pick: Callable[[Any], Any] = lambda seq: seq[int(rand() * len(seq))]
        self.ln: Callable[[float, float], float] = lambda mu, sigma: math.exp(mu + sigma * gauss())
        self.dumps: Callable[[Any], Any] = _json_cache() if json_text else (lambda v: v)
        self.empty_dict: Any = "{}" if json_text else {}
        self.empty_list: Any = "[]" if json_text else []
        self.detection_tags: Any = '["视频智能发现"]' if json_text else ["视频智能发现"]

        self.categories: list[Category] = list(taxonomy.categories.values())
        major_rank: dict[str, int] = {}
        cat_weights = []
        for cat in self.categories:
            rank = major_rank[cat.major_code] = major_rank.get(cat.major_code, 0) + 1
            cat_weights.append(MAJOR_WEIGHTS.get(cat.major_code, 3.0) / rank**0.8)
        w = np.asarray(cat_weights)
        self.cat_p = w / w.sum()
        det = [i for i, c in enumerate(self.categories) if c.name in DETECTION_CATEGORY_NAMES] or list(
            range(len(self.categories))
        )
        self.detection_cats = np.asarray(det)
        gw = np.asarray([g.weight for g in county.grids])
        self.grid_p = gw / gw.sum()
        self.grid_index = {g.code: i for i, g in enumerate(county.grids)}
        self.next_action_id = 1
        self.next_extension_id = 1
        #: Extension requests (延期申请) as mutable rows, in EXTENSION_COLUMNS order.
        self.extensions: list[list[Any]] = []
        self._draw()

    # -- the broad shape, vectorised ------------------------------------------------------------------

    def _draw(self) -> None:
        n, g = self.n, self.np
        days = 365
        day = g.choice(days, size=n, p=_day_weights(self.now_ts, days))
        hour_p = np.asarray(HOUR_PROFILE) / sum(HOUR_PROFILE)
        hour = g.choice(24, size=n, p=hour_p)
        local_midnight_today = math.floor((self.now_ts + _LOCAL) / 86400) * 86400 - _LOCAL
        ts = local_midnight_today - day * 86400.0 + hour * 3600.0 + g.uniform(0, 3600, size=n)
        # Today's hours still to come belong to yesterday.
        ts = np.where(ts > self.now_ts - 60, ts - 86400.0, ts)
        order = np.argsort(ts, kind="stable")
        self.ts = ts[order]

        self.source = g.choice(len(SOURCES), size=n, p=SOURCE_SHARES)
        cats = g.choice(len(self.categories), size=n, p=self.cat_p)
        is_det = self.source == SOURCES.index(Source.DETECTION)
        cats[is_det] = g.choice(self.detection_cats, size=int(is_det.sum()))
        self.cat = cats
        grids = g.choice(len(self.county.grids), size=n, p=self.grid_p)
        # Detection events happen where a camera is: take a random camera's grid.
        cams = self.county.cameras
        if cams:
            cam_pick = g.integers(0, len(cams), size=n)
            cam_grid = np.asarray([self.grid_index[c["grid_code"]] for c in cams])[cam_pick]
            grids = np.where(is_det, cam_grid, grids)
            self.camera = np.where(is_det, cam_pick, -1)
        else:
            self.camera = np.full(n, -1)
        self.grid = grids
        emergency = np.asarray([c.major_code == "06" for c in self.categories])[cats]
        u = g.random(n)
        self.urgency = np.where(
            emergency,
            np.where(u < 0.5, 0, np.where(u < 0.85, 1, 2)),
            np.where(u < 0.9, 0, np.where(u < 0.985, 1, 2)),
        )

        # How it ended: rejected, still open (likelier the younger it is), or closed at some level.
        age_days = (self.now_ts - self.ts) / 86400.0
        p_open = np.select(
            [age_days < 0.25, age_days < 1, age_days < 3, age_days < 7, age_days < 30],
            [0.85, 0.55, 0.25, 0.10, 0.03],
            default=0.002,
        )
        u = g.random(n)
        rejected = u < 0.015
        open_ = ~rejected & (u < 0.015 + p_open * 0.985)
        closed = ~rejected & ~open_
        fresh = age_days < 0.5
        open_state = np.where(
            fresh,
            g.choice(len(_OPEN_STATES), size=n, p=_OPEN_MIX_FRESH),
            g.choice(len(_OPEN_STATES), size=n, p=_OPEN_MIX_OLDER),
        )
        # Resolution levels: exact shares over the closed events (a shuffled quota, not a draw), and a
        # draw for the open ones (the level their timeline is heading for).
        level = g.choice(4, size=n, p=list(RESOLUTION_SHARES.values()))
        n_closed = int(closed.sum())
        quota = [round(n_closed * s) for s in RESOLUTION_SHARES.values()]
        quota[0] += n_closed - sum(quota)
        closed_levels = np.repeat(np.arange(4), quota)
        g.shuffle(closed_levels)
        level[closed] = closed_levels
        self.level = level
        self.outcome = np.where(rejected, 0, np.where(open_, 1, 2))  # 0 rejected, 1 open, 2 closed
        self.open_state = open_state
        self.unit = g.random((n, 2))  # position inside the grid

    # -- rows -----------------------------------------------------------------------------------------

    def batches(self) -> Iterator[Batch]:
        for start in range(0, self.n, self.batch_size):
            yield self.batch(start, min(self.n, start + self.batch_size))

    def batch(self, start: int, stop: int) -> Batch:
        events: list[tuple[Any, ...]] = []
        actions: list[tuple[Any, ...]] = []
        sl = slice(start, stop)
        columns = zip(
            range(start, stop),
            self.cat[sl].tolist(),
            self.source[sl].tolist(),
            self.urgency[sl].tolist(),
            self.grid[sl].tolist(),
            self.camera[sl].tolist(),
            self.unit[sl].tolist(),
            self.ts[sl].tolist(),
            self.outcome[sl].tolist(),
            self.level[sl].tolist(),
            self.open_state[sl].tolist(),
            strict=True,
        )
        event = self._event
        for args in columns:
            events.append(event(*args, actions))
        extensions = [tuple(row) for row in self.extensions]
        self.extensions.clear()
        return Batch(events, actions, extensions)

    def _event(
        self,
        i: int,
        cat_i: int,
        source_i: int,
        urgency_i: int,
        grid_i: int,
        cam_i: int,
        unit: list[float],
        t: float,
        outcome: int,
        level: int,
        open_state: int,
        actions: list[tuple[Any, ...]],
    ) -> tuple[Any, ...]:
        county, rand, pick, ln = self.county, self.rand, self.pick, self.ln
        event_id = i + 1
        cat = self.categories[cat_i]
        source = _SOURCE_VALUES[source_i]
        urgency = _URGENCY_VALUES[urgency_i]
        grid = county.grids[grid_i]
        village = grid.parent
        town = village.parent  # type: ignore[union-attr]
        assert village is not None and town is not None
        camera = county.cameras[cam_i] if cam_i >= 0 else None
        if camera is not None:
            lat = round(camera["lat"] + (unit[0] - 0.5) * 0.0004, 6)
            lon = round(camera["lon"] + (unit[1] - 0.5) * 0.0004, 6)
            s, w, n_, e = grid.rect
            lat, lon = min(max(lat, s), n_), min(max(lon, w), e)
        else:
            s, w, n_, e = grid.rect
            lat = round(s + (n_ - s) * (0.04 + 0.92 * unit[0]), 6)
            lon = round(w + (e - w) * (0.04 + 0.92 * unit[1]), 6)

        road = pick(grid.roads)
        landmark = pick(names.URBAN_LANDMARKS if grid.urban else names.RURAL_LANDMARKS)
        number = 1 + int(rand() * 388)
        address = f"{town.name}{village.name}{road}{number}号{landmark}"
        title = pick(names.TITLE_TEMPLATES).format(
            town=town.name, village=village.name, road=road, landmark=landmark, name=cat.name, number=number
        )
        kw = pick(cat.keywords) if cat.keywords else cat.name
        lead = pick(names.SOURCE_LEADS[source])
        if camera is not None:
            lead = f"{lead}（{camera['name']}）"
        description = (
            f"{lead}：{pick(names.TIME_PHRASES)}在{address}"
            f"{pick(names.DETAIL_TEMPLATES).format(kw=kw)}，属{cat.minor_name}类{cat.name}，"
            f"{pick(names.IMPACTS[cat.platform])}，{pick(names.REQUESTS[cat.platform])}"
        )

        town_disp = county.town_dispatchers[town.code]
        county_disp = county.county_dispatchers
        worker = county.grid_worker_of[grid.code]
        reporter: SeedUser | None
        report_actor: SeedUser | None
        if source == _GRID_WORKER:
            reporter = report_actor = worker
        elif source == _HOTLINE:
            reporter, report_actor = None, pick(county_disp)
        elif source == _DEPARTMENT:
            reporter = report_actor = pick(county.town_departments[town.code][cat.platform])
        else:
            reporter = report_actor = None

        # The planned timeline: (action, from, to, actor, t, note, data). Deadline-bearing fields of the
        # data (assign's deadline_at, extension's until) are filled in once the times are final.
        plan: list[tuple[str, str | None, str, SeedUser | None, float, str, dict[str, Any]]] = []
        plan.append((_A_REPORT, None, _S_PENDING, report_actor, t, lead, {"source": source}))
        allowed = cat.hours_for(urgency) * 3600.0
        rating: int | None = None
        reject_reason: str | None = None
        town_dispatcher = pick(town_disp)
        if outcome == 0:
            t += 60 * ln(3.0, 1.0)
            reject_reason = pick(names.REJECT_REASONS)
            plan.append(
                (_A_REJECT, _S_PENDING, _S_REJECTED, town_dispatcher, t, reject_reason, {"reason": reject_reason})
            )
        else:
            t += 60 * (ln(1.2, 0.8) if source == _DETECTION else ln(2.4, 1.0))
            plan.append(
                (_A_ACCEPT, _S_PENDING, _S_ACCEPTED, town_dispatcher, t, pick(names.ACCEPT_NOTES),
                 {"category_code": cat.code, "urgency": urgency})
            )  # fmt: skip
            accepted_t = t
            # Handling time as a share of the allowed time: most close well inside it, higher levels take longer.
            budget = allowed * min(3.0, ln(-1.27, 0.75)) * (1 + 0.35 * level)
            dispatcher = town_dispatcher
            final = pick(self._handlers(level, grid, cat.platform))
            if level == 3:
                # 上报: the town's command room (directly, or after its department tried) passes it to the county.
                if rand() < 0.5:
                    t, _ = self._assign_sign(plan, t, dispatcher, pick(self._handlers(2, grid, cat.platform)))
                    t += budget * 0.2
                    actor, frm = plan[-1][3], _S_IN_PROGRESS
                else:
                    actor, frm = dispatcher, _S_ACCEPTED
                t += 60 * ln(3.5, 0.9)
                plan.append(
                    (_A_ESCALATE, frm, _S_ACCEPTED, actor, t, pick(names.ESCALATE_NOTES),
                     {"from": town.code, "to": county.root.code})
                )  # fmt: skip
                dispatcher = pick(county_disp)
                t, final = self._assign_sign(plan, t, dispatcher, final)
            elif level > 0 and rand() < 0.5:
                # The grid worker gets it first and finds it beyond the grid: 退回 to the dispatcher, who then
                # assigns the right unit (a 流转 keeps to one level, so this is not one).
                worker = county.grid_worker_of[grid.code]
                t += 60 * ln(2.0, 0.9)
                plan.append(
                    (_A_ASSIGN, _S_ACCEPTED, _S_ASSIGNED, dispatcher, t, pick(names.ASSIGN_NOTES), {"assignee": worker})
                )
                t += budget * 0.05 + 60 * ln(3.0, 1.0)
                reason = pick(names.RETURN_NOTES)
                plan.append((_A_RETURN, _S_ASSIGNED, _S_ACCEPTED, worker, t, reason, {"reason": reason}))
                t, final = self._assign_sign(plan, t, dispatcher, final)
            else:
                t, final = self._assign_sign(plan, t, dispatcher, final)
            handler = final
            work = max(600.0, budget - (t - accepted_t))
            if t + work > accepted_t + 0.8 * allowed and rand() < 0.45:
                urger = pick(county.leaders) if rand() < 0.15 else dispatcher
                tu = max(t + 60, accepted_t + 0.8 * allowed)
                plan.append((_A_URGE, _S_IN_PROGRESS, _S_IN_PROGRESS, urger, tu, pick(names.URGE_NOTES), {}))
            elif rand() < 0.015:
                plan.append(
                    (_A_URGE, _S_IN_PROGRESS, _S_IN_PROGRESS, dispatcher, t + work * 0.5, pick(names.URGE_NOTES), {})
                )
            if rand() < 0.025:
                te = t + work * 0.3
                reason = pick(names.EXTEND_NOTES)
                plan.append((_A_EXTEND, _S_IN_PROGRESS, _S_IN_PROGRESS, handler, te, reason, {"reason": reason}))
                approved = rand() < 0.8
                plan.append(
                    (_A_APPROVE_EXTENSION, _S_IN_PROGRESS, _S_IN_PROGRESS, dispatcher, te + 60 * ln(4.0, 0.8),
                     "同意延期" if approved else "不同意延期，请按期办结", {"approved": approved})
                )  # fmt: skip
                plan.sort(key=lambda row: row[4])
            t = max(t + work, plan[-1][4] + 60)
            result = pick(names.RESULTS)
            plan.append(
                (_A_HANDLE, _S_IN_PROGRESS, _S_PENDING_VERIFY, handler, t, result, {"result": result, "photos": 0})
            )
            if rand() < 0.02:
                t += 60 * ln(4.5, 0.8)
                plan.append(
                    (_A_VERIFY, _S_PENDING_VERIFY, _S_IN_PROGRESS, dispatcher, t, pick(names.VERIFY_FAIL_NOTES),
                     {"passed": False})
                )  # fmt: skip
                t += work * 0.3 + 600
                plan.append(
                    (_A_HANDLE, _S_IN_PROGRESS, _S_PENDING_VERIFY, handler, t, result, {"result": result, "photos": 0})
                )
            t += 60 * ln(4.0, 1.0)
            plan.append(
                (_A_VERIFY, _S_PENDING_VERIFY, _S_CLOSED, dispatcher, t, pick(names.VERIFY_PASS_NOTES),
                 {"passed": True, "resolution_level": handler.jurisdiction.level.value})
            )  # fmt: skip
            if rand() < 0.95:
                r = rand()
                rating = 5 if r < 0.71 else 4 if r < 0.92 else 3 if r < 0.97 else 2 if r < 0.99 else 1
                t += 60 * ln(6.0, 1.2)
                plan.append(
                    (_A_EVALUATE, _S_CLOSED, _S_CLOSED, reporter or dispatcher, t, names.EVALUATE_NOTES[rating],
                     {"rating": rating})
                )  # fmt: skip

        if outcome == 1:
            target = _OPEN_STATE_VALUES[open_state]
            cuts = [k for k, row in enumerate(plan) if row[2] == target and (k > 0 or target == _S_PENDING)]
            if not cuts:  # a state this plan never reaches: stop at its furthest open step
                cuts = [max(k for k, row in enumerate(plan) if row[2] in _OPEN_STATE_VALUES)]
            del plan[pick(cuts) + 1 :]
            rating = None

        # Fit the timeline before now (young events, long deadlines).
        t0, t_last = plan[0][4], plan[-1][4]
        limit = self.now_ts - 30
        if t_last > limit:
            scale = max(0.0, (limit - t0) / (t_last - t0)) if t_last > t0 else 0.0
            plan = [(*row[:4], t0 + (row[4] - t0) * scale, *row[5:]) for row in plan]

        # The event as the timeline leaves it; the data fields that carry deadlines.
        dt = _dt
        state = plan[-1][2]
        handling: Node = town
        assignee: SeedUser | None = None
        assigned_by_id = accepted_at = closed_at = deadline = requested = None
        urge_count = 0
        result_text = resolution_level = None
        extension_pending = False
        rows = []
        for action, frm, to, actor, when, note, data in plan:
            if action == _A_ESCALATE:
                handling, assignee = county.root, None
            elif action == _A_ASSIGN:
                assignee, assigned_by_id = data["assignee"], actor.id  # type: ignore[union-attr]
                data = {
                    "assignee_id": assignee.id,
                    "assignee_name": assignee.display_name,
                    "deadline_at": _iso(deadline),  # type: ignore[arg-type]
                }
            elif action == _A_TRANSFER:
                assignee = self.county.users[data["assignee_id"] - 1]
            elif action == _A_RETURN:
                assignee = None
            elif action == _A_ACCEPT:
                accepted_at = when
                deadline = when + allowed
            elif action == _A_URGE:
                urge_count += 1
                data = {"urge_count": urge_count}
            elif action == _A_EXTEND:
                requested = accepted_at + allowed * 1.5  # type: ignore[operator]
                data = {"until": _iso(requested), "reason": data["reason"]}
                requester = actor.id  # type: ignore[union-attr]
                self.extensions.append(
                    [self.next_extension_id, event_id, requester, dt(requested), note, "pending", None, None, dt(when)]
                )
                self.next_extension_id += 1
                extension_pending = True
            elif action == _A_APPROVE_EXTENSION:
                request = self.extensions[-1]
                request[5:8] = ["approved" if data["approved"] else "refused", actor.id, dt(when)]  # type: ignore[union-attr]
                if data["approved"]:
                    deadline = requested
                data = {"approved": data["approved"], "until": _iso(requested)}  # type: ignore[arg-type]
                extension_pending = False
            elif action == _A_HANDLE:
                result_text = data["result"]
            elif action == _A_VERIFY and data["passed"]:
                closed_at = when
                resolution_level = data["resolution_level"]
            rows.append((action, frm, to, actor, when, note, data))

        # The time limit of the stage the event is in: 受理时限 while pending, 办理时限 once accepted.
        deadline_at = warn_at = None
        if accepted_at is not None and deadline is not None:
            deadline_at = dt(deadline)
            warn_at = dt(accepted_at + 0.8 * (deadline - accepted_at))
        elif state == _S_PENDING:
            accept_allowed = cat.accept_hours_for(urgency) * 3600.0
            deadline_at, warn_at = dt(t0 + accept_allowed), dt(t0 + 0.8 * accept_allowed)

        aid = self.next_action_id
        dumps, empty = self.dumps, self.empty_dict
        for version, (action, frm, to, actor, when, note, data) in enumerate(rows, start=1):
            actor_id = actor.id if actor else None
            actions.append(
                (aid, event_id, action, actor_id, frm, to, note, dumps(data) if data else empty, version, dt(when))
            )
            aid += 1
        self.next_action_id = aid

        is_detection = source == _DETECTION
        return (
            event_id, title, description, cat.code, cat.platform, urgency, source, state,
            county.root.code, town.code, village.code, grid.code, handling.code,
            lat, lon, address, camera["id"] if camera else None,
            reporter.id if reporter else None, assignee.id if assignee else None, assigned_by_id,
            deadline_at, warn_at, dt(t0), dt(plan[-1][4]),
            dt(accepted_at) if accepted_at is not None else None,
            dt(closed_at) if closed_at is not None else None,
            resolution_level, result_text, reject_reason, rating, urge_count,
            self.detection_tags if is_detection else self.empty_list, self.empty_list, extension_pending, len(rows),
        )  # fmt: skip

    def _assign_sign(
        self, plan: list[Any], t: float, dispatcher: SeedUser, handler: SeedUser
    ) -> tuple[float, SeedUser]:
        """交办 to ``handler`` and its 签收, sometimes with a 流转 to a colleague in between."""
        pick, ln = self.pick, self.ln
        t += 60 * ln(2.0, 0.9)
        plan.append(
            (_A_ASSIGN, _S_ACCEPTED, _S_ASSIGNED, dispatcher, t, pick(names.ASSIGN_NOTES), {"assignee": handler})
        )
        if self.rand() < 0.03:
            others = [u for u in self._colleagues(handler) if u is not handler]
            if others:
                new = pick(others)
                t += 60 * ln(3.5, 1.0)
                plan.append(
                    (_A_TRANSFER, _S_ASSIGNED, _S_ASSIGNED, dispatcher, t, pick(names.TRANSFER_NOTES),
                     {"from_assignee_id": handler.id, "assignee_id": new.id, "assignee_name": new.display_name})
                )  # fmt: skip
                handler = new
        t += 60 * (ln(3.0, 0.9) if handler.platform is None else ln(4.2, 0.8))
        plan.append((_A_SIGN, _S_ASSIGNED, _S_IN_PROGRESS, handler, t, pick(names.SIGN_NOTES), {}))
        return t, handler

    def _colleagues(self, user: SeedUser) -> list[SeedUser]:
        """Who a 流转 may go to: the other grid workers of the village, the other departments of the level."""
        node = user.jurisdiction
        if user.platform is not None:
            depts = (
                self.county.county_departments
                if node.level is Level.COUNTY
                else self.county.town_departments[node.code]
            )
            return [u for us in depts.values() for u in us]
        if node.level is not Level.GRID:
            return []  # a 村社网格长 has no peer at the level
        village = node.parent
        assert village is not None
        workers = (self.county.grid_worker_of[g.code] for g in village.children)
        return list({w.id: w for w in workers}.values())

    def _handlers(self, lvl: int, grid: Node, platform: str | None) -> list[SeedUser]:
        """Who handles at level ``lvl`` (0 grid … 3 county); ``platform`` None means any department."""
        county = self.county
        if lvl == 0:
            return [county.grid_worker_of[grid.code]]
        village = grid.parent
        assert village is not None
        if lvl == 1:
            return [county.village_head_of[village.code]]
        town = village.parent
        assert town is not None
        depts = county.town_departments[town.code] if lvl == 2 else county.county_departments
        if platform is None:
            return [u for us in depts.values() for u in us]
        return depts.get(platform) or [u for us in depts.values() for u in us]


def _json_cache() -> Callable[[dict[str, Any]], str]:
    """``json.dumps`` remembering the small dicts that repeat (assignments, escalations, outcomes)."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    cache: dict[tuple[Any, ...], str] = {}

    def dumps(value: dict[str, Any]) -> str:
        key = tuple(value.items())
        text = cache.get(key)
        if text is None:
            text = encode(value)
            if len(cache) < 100_000:
                cache[key] = text
        return text

    return dumps


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _iso(ts: float) -> str:
    return _dt(ts).isoformat(timespec="seconds")


assert tuple(RESOLUTION_SHARES) == tuple(level.value for level in reversed(LEVEL_ORDER))
