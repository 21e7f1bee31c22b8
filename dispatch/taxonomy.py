"""The category taxonomy (GB/T 30428.2-style 大类 → 小类 → 事项), loaded from ``config/categories.yaml``.

Each 事项 names the 四平台 platform that owns it and its time limits in hours per urgency: the handling
limit (办理时限, from acceptance) and the acceptance limit (受理时限, from the report; one table for the whole
taxonomy, which an item may override). The file is data, not code: a county edits it without touching gridhub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dispatch.errors import Unsuitable
from dispatch.models import Urgency

PLATFORMS: dict[str, str] = {
    "zongzhi": "综治工作",
    "shichang": "市场监管",
    "zonghe_zhifa": "综合执法",
    "bianmin": "便民服务",
}


#: 受理时限 where ``categories.yaml`` names none: a day for 一般, two hours for 紧急, half an hour for 特急.
DEFAULT_ACCEPT_HOURS: dict[str, float] = {
    Urgency.NORMAL.value: 24.0,
    Urgency.URGENT.value: 2.0,
    Urgency.CRITICAL.value: 0.5,
}


def _hours(raw: dict[str, object], where: str, *, need_normal: bool = True) -> dict[str, float]:
    hours = {str(k): float(v) for k, v in raw.items()}  # type: ignore[arg-type]
    if need_normal and Urgency.NORMAL.value not in hours:
        raise ValueError(f"{where} needs 'normal'")
    if any(not h > 0 for h in hours.values()):
        raise ValueError(f"{where}: hours must be positive")
    return hours


@dataclass(frozen=True, slots=True)
class Category:
    code: str  # 事项 code, e.g. "010203"
    name: str
    major_code: str
    major_name: str
    minor_code: str
    minor_name: str
    platform: str
    deadline_hours: dict[str, float]
    keywords: tuple[str, ...] = ()
    accept_hours: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ACCEPT_HOURS))

    def hours_for(self, urgency: str) -> float:
        """The handling time limit (办理时限)."""
        return self.deadline_hours.get(urgency) or self.deadline_hours[Urgency.NORMAL.value]

    def accept_hours_for(self, urgency: str) -> float:
        """The acceptance time limit (受理时限)."""
        return self.accept_hours.get(urgency) or self.accept_hours[Urgency.NORMAL.value]


@dataclass(slots=True)
class Taxonomy:
    categories: dict[str, Category] = field(default_factory=dict)

    def get(self, code: str) -> Category:
        """The category for ``code``; Unsuitable (409) for a code the taxonomy does not hold."""
        try:
            return self.categories[code]
        except KeyError:
            raise Unsuitable(f"unknown category code {code!r}", field="category_code") from None

    def __len__(self) -> int:
        return len(self.categories)

    def as_tree(self) -> list[dict[str, object]]:
        """大类 → 小类 → 事项 as nested dicts, for the API and the report form."""
        majors: dict[str, dict[str, object]] = {}
        for cat in self.categories.values():
            major = majors.setdefault(cat.major_code, {"code": cat.major_code, "name": cat.major_name, "minors": {}})
            minors: dict[str, dict[str, object]] = major["minors"]  # type: ignore[assignment]
            minor = minors.setdefault(cat.minor_code, {"code": cat.minor_code, "name": cat.minor_name, "items": []})
            minor["items"].append(  # type: ignore[union-attr]
                {
                    "code": cat.code,
                    "name": cat.name,
                    "platform": cat.platform,
                    "deadline_hours": cat.deadline_hours,
                    "accept_hours": cat.accept_hours,
                }
            )
        return [
            {**m, "minors": list(m["minors"].values())}  # type: ignore[union-attr]
            for m in majors.values()
        ]


def load_taxonomy(config_dir: Path) -> Taxonomy:
    """Read ``categories.yaml``: majors → minors → items, each item with platform and deadlines.

    Format::

        accept_hours: {normal: 24, urgent: 2, critical: 0.5}   # 受理时限 of every item (default as shown)
        majors:
          - code: "01"
            name: 市容环境
            minors:
              - code: "0101"
                name: 环境卫生
                items:
                  - code: "010101"
                    name: 暴露垃圾
                    platform: zonghe_zhifa
                    deadline_hours: {normal: 48, urgent: 24, critical: 4}
                    keywords: [垃圾, 堆放]
                    # accept_hours: {normal: 4}   (optional: this item's own 受理时限)
    """
    raw = yaml.safe_load((config_dir / "categories.yaml").read_text(encoding="utf-8"))
    taxonomy = Taxonomy()
    accept = _hours(raw.get("accept_hours") or DEFAULT_ACCEPT_HOURS, "accept_hours")
    for major in raw["majors"]:
        for minor in major["minors"]:
            for item in minor["items"]:
                platform = item["platform"]
                if platform not in PLATFORMS:
                    raise ValueError(f"category {item['code']}: unknown platform {platform!r}")
                hours = _hours(item["deadline_hours"], f"category {item['code']}: deadline_hours")
                own = item.get("accept_hours")
                where = f"category {item['code']}: accept_hours"
                accept_hours = {**accept, **_hours(own, where, need_normal=False)} if own else accept
                code = str(item["code"])
                if code in taxonomy.categories:
                    raise ValueError(f"duplicate category code {code}")
                taxonomy.categories[code] = Category(
                    code=code,
                    name=item["name"],
                    major_code=str(major["code"]),
                    major_name=major["name"],
                    minor_code=str(minor["code"]),
                    minor_name=minor["name"],
                    platform=platform,
                    deadline_hours=hours,
                    keywords=tuple(item.get("keywords", ())),
                    accept_hours=accept_hours,
                )
    return taxonomy
