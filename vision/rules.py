"""Detection rules: what a camera should raise an event for, and the engine that applies them to tracks.

A rule's geometry is in frame-relative coordinates (0…1 of width and height), so it holds at any
resolution. Kinds:

* ``intrusion``  an object of ``classes`` inside ``zone``;
* ``loitering``  (人员逗留) one track inside ``zone`` for ``dwell_s`` seconds;
* ``crowd``      (人员聚集) more than ``max_count`` objects inside ``zone`` for ``dwell_s`` seconds;
* ``line``       a track's foot point crossing ``line`` (a→b) in ``direction``.

Every rule has active hours (site time zone), a minimum score and size, the category and urgency of the
event it raises, a ``cooldown_s`` (after firing, the rule is silent for that long on the camera) and a
``dedupe_s`` (one track fires one rule at most once per that window).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from dispatch.schemas import Strict
from vision.geometry import Point, crossed, inside, line_problem, polygon_problem
from vision.tracking import Track

HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
FULL_FRAME: list[list[float]] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]

#: COCO labels as a dispatcher reads them (others are shown as they are).
LABELS_ZH = {
    "person": "人员",
    "bicycle": "自行车",
    "car": "汽车",
    "motorcycle": "摩托车",
    "bus": "公交车",
    "truck": "货车",
}
KIND_ZH = {"intrusion": "区域入侵", "loitering": "人员逗留", "crowd": "人员聚集", "line": "越线"}


def label_zh(label: str) -> str:
    return LABELS_ZH.get(label, label)


#: What each kind raises by default (taxonomy codes of config/categories.yaml).
DEFAULT_CATEGORY = {"intrusion": "080101", "loitering": "080101", "crowd": "050301", "line": "080101"}


class RuleIn(Strict):
    """A rule as the API and config/vision.yaml write it."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["intrusion", "loitering", "crowd", "line"]
    enabled: bool = True
    classes: Annotated[list[Annotated[str, Field(min_length=1, max_length=40)]], Field(min_length=1, max_length=80)] = (
        Field(default_factory=lambda: ["person"])
    )
    zone: Annotated[
        list[Annotated[list[float], Field(min_length=2, max_length=2)]] | None,
        Field(max_length=64, description="Polygon, points as [x, y] fractions of width and height (0…1)."),
    ] = None
    line: Annotated[
        list[Annotated[list[float], Field(min_length=2, max_length=2)]] | None,
        Field(description="[[x, y], [x, y]] for kind line: a → b."),
    ] = None
    direction: Literal["any", "left_to_right", "right_to_left"] = "any"
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.5
    min_height: Annotated[float, Field(ge=0, le=1, description="Smallest box height, fraction of the frame.")] = 0.0
    dwell_s: Annotated[float, Field(ge=0, le=86_400)] = 0.0
    max_count: Annotated[int, Field(ge=0, le=1000, description="crowd: fires when MORE objects are inside.")] = 5
    active_hours: Annotated[list[str], Field(max_length=12, description='e.g. ["22:00-06:00"]; empty: always')] = Field(
        default_factory=list
    )
    category_code: Annotated[str | None, Field(max_length=32)] = None
    urgency: Literal["normal", "urgent", "critical"] = "normal"
    cooldown_s: Annotated[float, Field(ge=0, le=7 * 86_400)] = 300.0
    dedupe_s: Annotated[float, Field(ge=0, le=7 * 86_400)] = 3600.0

    @field_validator("zone", "line", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if isinstance(value, list):
            for p in value:
                if isinstance(p, list) and any(isinstance(v, float) and v != v for v in p):
                    raise ValueError("coordinates must be numbers")
        return value

    @field_validator("active_hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        for item in value:
            if not HOURS.match(item):
                raise ValueError(f"active hours are HH:MM-HH:MM, got {item!r}")
        return value

    @model_validator(mode="after")
    def _geometry(self) -> RuleIn:
        if self.kind == "line":
            if self.line is None:
                raise ValueError("a line rule needs line: [[x, y], [x, y]]")
            problem = line_problem(self.line)
            if problem:
                raise ValueError(problem)
        elif self.line is not None:
            raise ValueError(f"line belongs to line rules, not {self.kind}")
        if self.zone is not None:
            problem = polygon_problem(self.zone)
            if problem:
                raise ValueError(problem)
        if self.kind == "loitering" and self.dwell_s <= 0:
            raise ValueError("a loitering rule needs dwell_s > 0 (seconds in the zone)")
        return self


class RulePatch(Strict):
    """A partial update: the merged rule is validated as a whole."""

    name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    enabled: bool | None = None
    classes: Annotated[list[str] | None, Field(min_length=1, max_length=80)] = None
    zone: list[list[float]] | None = None
    line: list[list[float]] | None = None
    direction: Literal["any", "left_to_right", "right_to_left"] | None = None
    min_score: Annotated[float | None, Field(ge=0, le=1)] = None
    min_height: Annotated[float | None, Field(ge=0, le=1)] = None
    dwell_s: Annotated[float | None, Field(ge=0, le=86_400)] = None
    max_count: Annotated[int | None, Field(ge=0, le=1000)] = None
    active_hours: list[str] | None = None
    category_code: Annotated[str | None, Field(max_length=32)] = None
    urgency: Literal["normal", "urgent", "critical"] | None = None
    cooldown_s: Annotated[float | None, Field(ge=0, le=7 * 86_400)] = None
    dedupe_s: Annotated[float | None, Field(ge=0, le=7 * 86_400)] = None


@dataclass(slots=True)
class Firing:
    """A rule fired: the event to raise, with the tracks that made it fire."""

    rule_id: int
    rule_name: str
    kind: str
    category_code: str
    urgency: str
    ts: float
    tracks: list[Track]
    summary: str
    score: float


def in_hours(spec: RuleIn, ts: float, tz: ZoneInfo) -> bool:
    if not spec.active_hours:
        return True
    local = datetime.fromtimestamp(ts, tz)
    minute = local.hour * 60 + local.minute
    for item in spec.active_hours:
        m = HOURS.match(item)
        assert m is not None
        start = int(m.group(1)) * 60 + int(m.group(2))
        end = int(m.group(3)) * 60 + int(m.group(4))
        if (start <= minute < end) if start <= end else (minute >= start or minute < end):
            return True
    return False


@dataclass
class RuleState:
    """What one rule remembers between frames on one camera."""

    last_fired: float = float("-inf")
    fired_tracks: dict[int, float] = field(default_factory=dict)  # track id → when it fired
    entered: dict[int, float] = field(default_factory=dict)  # track id → since when in the zone
    last_point: dict[int, Point] = field(default_factory=dict)
    crowd_since: float | None = None


class Rule:
    """One rule on one camera with its state; ``evaluate`` returns a Firing or None."""

    def __init__(self, rule_id: int, spec: RuleIn, tz: ZoneInfo) -> None:
        self.id = rule_id
        self.spec = spec
        self.tz = tz
        self.zone: list[Point] = [(p[0], p[1]) for p in (spec.zone or FULL_FRAME)]
        self.classes = frozenset(spec.classes)
        self.state = RuleState()

    def qualifies(self, track: Track, width: int, height: int) -> bool:
        s = self.spec
        return (
            track.label in self.classes
            and track.score >= s.min_score
            and (track.box[3] - track.box[1]) / height >= s.min_height
        )

    def evaluate(self, tracks: list[Track], ts: float, width: int, height: int) -> Firing | None:
        s, st = self.spec, self.state
        if not s.enabled or not in_hours(s, ts, self.tz):
            st.entered.clear()
            st.crowd_since = None
            return None
        # Forget tracks that fired longer ago than the dedupe window, and tracks gone from view.
        st.fired_tracks = {t: at for t, at in st.fired_tracks.items() if ts - at < s.dedupe_s}
        live = [t for t in tracks if self.qualifies(t, width, height)]
        points = {t.track_id: t.foot(width, height) for t in live}
        in_zone = [t for t in live if inside(points[t.track_id], self.zone)]
        firing = getattr(self, f"_{s.kind}")(live, in_zone, points, ts)
        for track_id in list(st.entered):
            if track_id not in points:
                del st.entered[track_id]
        st.last_point = points
        if firing is None or ts - st.last_fired < s.cooldown_s:
            return None
        st.last_fired = ts
        for t in firing.tracks:
            st.fired_tracks[t.track_id] = ts
        return firing

    def _firing(self, tracks: list[Track], ts: float, summary: str) -> Firing:
        s = self.spec
        return Firing(
            rule_id=self.id,
            rule_name=s.name,
            kind=s.kind,
            category_code=s.category_code or DEFAULT_CATEGORY[s.kind],
            urgency=s.urgency,
            ts=ts,
            tracks=tracks,
            summary=summary,
            score=max((t.score for t in tracks), default=0.0),
        )

    def _fresh(self, tracks: list[Track]) -> list[Track]:
        return [t for t in tracks if t.track_id not in self.state.fired_tracks]

    def _intrusion(self, live: list[Track], in_zone: list[Track], points: dict, ts: float) -> Firing | None:
        fresh = self._fresh(in_zone)
        if not fresh:
            return None
        return self._firing(
            fresh, ts, f"区域内出现{len(fresh)}个目标({'/'.join(sorted({label_zh(t.label) for t in fresh}))})"
        )

    def _loitering(self, live: list[Track], in_zone: list[Track], points: dict, ts: float) -> Firing | None:
        st = self.state
        inside_ids = {t.track_id for t in in_zone}
        for track_id in list(st.entered):
            if track_id not in inside_ids:
                del st.entered[track_id]
        for t in in_zone:
            st.entered.setdefault(t.track_id, ts)
        due = [t for t in self._fresh(in_zone) if ts - st.entered[t.track_id] >= self.spec.dwell_s]
        if not due:
            return None
        longest = max(ts - st.entered[t.track_id] for t in due)
        return self._firing(due, ts, f"{len(due)}个{label_zh(due[0].label)}在区域内逗留{longest:.0f}秒")

    def _crowd(self, live: list[Track], in_zone: list[Track], points: dict, ts: float) -> Firing | None:
        st = self.state
        if len(in_zone) <= self.spec.max_count:
            st.crowd_since = None
            return None
        if st.crowd_since is None:
            st.crowd_since = ts
        if ts - st.crowd_since < self.spec.dwell_s:
            return None
        return self._firing(in_zone, ts, f"区域内聚集{len(in_zone)}人,超过{self.spec.max_count}人的阈值")

    def _line(self, live: list[Track], in_zone: list[Track], points: dict, ts: float) -> Firing | None:
        assert self.spec.line is not None
        a, b = tuple(self.spec.line[0]), tuple(self.spec.line[1])
        want = {"any": (1, -1), "left_to_right": (1,), "right_to_left": (-1,)}[self.spec.direction]
        crossing = []
        for t in self._fresh(live):
            prev = self.state.last_point.get(t.track_id)
            if prev is not None and crossed(prev, points[t.track_id], a, b) in want:  # type: ignore[arg-type]
                crossing.append(t)
        if not crossing:
            return None
        return self._firing(crossing, ts, f"{len(crossing)}个{label_zh(crossing[0].label)}越过警戒线")


class RuleSet:
    """The rules of one camera. ``replace`` swaps specs and keeps the state of rules that did not change."""

    def __init__(self, tz: ZoneInfo | str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self.rules: dict[int, Rule] = {}

    def replace(self, specs: dict[int, RuleIn]) -> None:
        rules: dict[int, Rule] = {}
        for rule_id, spec in specs.items():
            old = self.rules.get(rule_id)
            rules[rule_id] = old if old is not None and old.spec == spec else Rule(rule_id, spec, self.tz)
        self.rules = rules

    @property
    def classes(self) -> frozenset[str]:
        return frozenset().union(*(r.classes for r in self.rules.values() if r.spec.enabled))

    def evaluate(self, tracks: list[Track], ts: float, width: int, height: int) -> list[Firing]:
        """Each rule on its own: one rule's failure does not stop the camera's other rules."""
        out = []
        for rule in self.rules.values():
            firing = rule.evaluate(tracks, ts, width, height)
            if firing is not None:
                out.append(firing)
        return out
