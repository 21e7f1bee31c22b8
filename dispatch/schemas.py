"""Pydantic models of what the domain takes in and gives out (used by hub/ for the API as well)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from dispatch.models import Source, Urgency
from dispatch.passwords import COMPLEXITY_PATTERN, MIN_LENGTH

#: A row id as the API takes it: PostgreSQL ``integer`` columns hold 32 bits.
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]


def storable_text(value: str) -> str:
    """Text both engines can store: PostgreSQL refuses NUL in text, and no engine takes lone surrogates."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\u0000) characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


#: The JSON-schema form of ``storable_text``'s NUL rule (lone surrogates cannot be written in valid JSON text).
NO_NUL = r"^[^\x00]*$"
#: A ``str`` checked by ``storable_text`` (query parameters: add ``json_schema_extra={"pattern": NO_NUL}``).
StorableText = Annotated[str, AfterValidator(storable_text)]
#: A password being set (account creation, reset, change): the complexity rule, stated in the schema too.
NewPassword = Annotated[
    str,
    Field(
        min_length=MIN_LENGTH,
        max_length=200,
        json_schema_extra={"pattern": COMPLEXITY_PATTERN},
        description="At least 8 characters with an ASCII letter and a digit (MLPS level 2).",
    ),
]


def text_pattern(min_length: int, strip: bool) -> str:
    """The JSON-schema pattern of a checked text: no NUL and, where the model strips whitespace, at least
    ``min_length`` characters left after stripping (first and last kept characters are not whitespace)."""
    if not strip or min_length <= 0:
        return NO_NUL
    if min_length == 1:
        return r"^\s*[^\s\x00][^\x00]*$"
    return r"^\s*[^\s\x00][^\x00]{" + str(min_length - 2) + r",}[^\s\x00]\s*$"


def forbid_nul_in_schema(schema: dict[str, Any], strip: bool = False) -> None:
    """Add the NUL rule to every string of a JSON schema (in place) that has no pattern of its own."""
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema and "format" not in schema:
        schema["pattern"] = text_pattern(schema.get("minLength", 0), strip)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            forbid_nul_in_schema(sub, strip)
    items = schema.get("items")
    if isinstance(items, dict):
        forbid_nul_in_schema(items, strip)


class Storable(BaseModel):
    """Checks every text field (and every text in a list field) with ``storable_text``; the OpenAPI document
    says so (``pattern``) for every such field."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        schema = handler(core_schema)
        resolved = handler.resolve_ref_schema(schema)
        strip = bool(cls.model_config.get("str_strip_whitespace"))
        for prop in resolved.get("properties", {}).values():
            forbid_nul_in_schema(prop, strip)
        return schema

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return storable_text(value)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    storable_text(item)
        return value


class Strict(Storable):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Attachment(Strict):
    """A photo or file kept with an action (uploaded elsewhere; referenced by URL)."""

    url: Annotated[str, Field(min_length=1, max_length=500)]
    kind: Literal["photo", "video", "file"] = "photo"
    name: Annotated[str, Field(max_length=200)] = ""


Note = Annotated[str, Field(max_length=2000, description="Free text kept on the timeline.")]


class ReportIn(Strict):
    """新增/上报事件: a new event into the 待受理 queue."""

    title: Annotated[str, Field(min_length=2, max_length=200)]
    description: Annotated[str, Field(max_length=5000)] = ""
    category_code: Annotated[str, Field(min_length=1, max_length=32)]
    urgency: Urgency = Urgency.NORMAL
    source: Source | None = Field(
        default=None,
        description="Where the report came from. Default: set by the reporting account (a grid worker's report is "
        "grid_worker, a command room's dispatcher, a service account's its fixed source); an account may name only "
        "the few others its role relays (403 otherwise; never detection or import).",
    )
    grid_code: Annotated[
        str | None, Field(max_length=32, description="Where it happened; default: found from lat/lon.")
    ] = None
    lat: Annotated[float | None, Field(ge=-90, le=90)] = None
    lon: Annotated[float | None, Field(ge=-180, le=180)] = None
    address: Annotated[str, Field(max_length=200)] = ""
    camera_id: RowId | None = None
    attachments: Annotated[list[Attachment], Field(max_length=20)] = []

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "title": "幸福路与人民路交叉口暴露垃圾",
                    "description": "路口东北角有一堆生活垃圾未清运,影响通行。",
                    "category_code": "010101",
                    "urgency": "normal",
                    "lat": 30.41,
                    "lon": 119.98,
                    "address": "幸福路12号",
                }
            ]
        },
    )


class ActionIn(Strict):
    """Common body of every workflow action: the version the client saw, a note, attachments."""

    version: Annotated[int, Field(ge=1, description="The event version the client acted on (optimistic lock).")]
    note: Note = ""
    attachments: Annotated[list[Attachment], Field(max_length=20)] = []


class AcceptIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 1, "note": "情况属实,予以受理", "urgency": "urgent"}]},
    )

    urgency: Urgency | None = None
    category_code: Annotated[str | None, Field(max_length=32)] = None


class RejectIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 1, "reason": "重复上报,已合并至事件 1024"}]},
    )

    reason: Annotated[str, Field(min_length=2, max_length=2000)]


class ReopenIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 2, "note": "误判,恢复受理"}]},
    )


class AssignIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"version": 2, "assignee_id": 17, "note": "请于今日内处置", "deadline_hours": 24}]
        },
    )

    assignee_id: RowId
    deadline_hours: Annotated[
        float | None, Field(gt=0, le=24 * 90, description="Override the category's time limit.")
    ] = None


class EscalateIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 3, "note": "涉及区级部门职权,上报区指挥中心"}]},
    )


class TransferIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 3, "assignee_id": 23, "note": "属邻近网格"}]},
    )

    assignee_id: RowId


class ReturnIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 3, "reason": "不属于本网格"}]},
    )

    reason: Annotated[str, Field(min_length=2, max_length=2000)]


class SignIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [{"version": 3}]}
    )


class HandleIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "version": 4,
                    "result": "已联系环卫清运完毕",
                    "attachments": [{"url": "/media/photos/after.jpg", "kind": "photo"}],
                }
            ]
        },
    )

    result: Annotated[str, Field(min_length=2, max_length=5000, description="What was done (处置结果).")]


class VerifyIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 5, "passed": True, "note": "现场核查已整改"}]},
    )

    passed: bool


class EvaluateIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [{"version": 6, "rating": 5}]}
    )

    rating: Annotated[int, Field(ge=1, le=5)]


class UrgeIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 3, "note": "请尽快签收"}]},
    )


class TagIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 2, "tags": ["重点关注", "环境"]}]},
    )

    tags: Annotated[list[Annotated[str, Field(min_length=1, max_length=32)]], Field(max_length=20)]


class ExtendIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 4, "until": "2026-12-05T18:00:00+08:00", "reason": "需协调物业"}]},
    )

    until: datetime = Field(description="The deadline asked for (after the current one).")
    reason: Annotated[str, Field(min_length=2, max_length=2000)]


class ApproveExtensionIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [{"version": 5, "approved": True}]}
    )

    approved: bool


class CommentIn(ActionIn):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"version": 4, "note": "已电话联系上报人"}]},
    )

    note: Annotated[str, Field(min_length=1, max_length=2000)]


#: The body model of each action, by its code name.
ACTION_BODIES: dict[str, type[ActionIn]] = {
    "accept": AcceptIn,
    "reject": RejectIn,
    "reopen": ReopenIn,
    "assign": AssignIn,
    "escalate": EscalateIn,
    "transfer": TransferIn,
    "return": ReturnIn,
    "sign": SignIn,
    "handle": HandleIn,
    "verify": VerifyIn,
    "evaluate": EvaluateIn,
    "urge": UrgeIn,
    "tag": TagIn,
    "extend": ExtendIn,
    "approve_extension": ApproveExtensionIn,
    "comment": CommentIn,
}


class ActionOut(BaseModel):
    id: int
    action: str
    actor_id: int | None
    actor_name: str | None
    from_state: str | None
    to_state: str
    note: str
    data: dict[str, Any]
    version: int = Field(description="The event's version after this action: 1 for the report, then one per action.")
    created_at: datetime


class EventOut(BaseModel):
    """An event as lists show it; ``warning`` is none / yellow (预警, past 80 %) / red (超期)."""

    id: int
    title: str
    description: str
    category_code: str
    category_name: str | None
    platform: str
    urgency: str
    source: str
    state: str
    county_code: str
    town_code: str | None
    village_code: str | None
    grid_code: str | None
    handling_code: str
    lat: float | None
    lon: float | None
    address: str
    camera_id: int | None
    reporter_id: int | None
    assignee_id: int | None
    deadline_at: datetime | None = Field(
        description="The time limit of the current stage: 受理时限 while pending, 办理时限 once accepted; "
        "none once rejected."
    )
    warning: Literal["none", "yellow", "red"]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    resolution_level: str | None
    rating: int | None
    urge_count: int
    tags: list[str]
    extension_pending: bool
    version: int


class EventDetailOut(EventOut):
    place_name: str = Field(
        default="", description="Where it is, by name: its town, village and grid (e.g. `城东街道 · 姚岭村 · 第1网格`)."
    )
    result_text: str | None
    reject_reason: str | None
    attachments: list[dict[str, Any]]
    timeline: list[ActionOut]
    allowed_actions: list[str] = Field(description="What this user may do now.")
    extensions: list[dict[str, Any]]
    media: list[dict[str, Any]] = Field(
        default=[], description="Snapshots, clips and photos: {id, kind, url, content_type, size, …} (contract C6)."
    )


class EventPage(BaseModel):
    items: list[EventOut]
    total: int = Field(description="Events in the view, exact up to 10,000 (see total_exact).")
    total_exact: bool = Field(description="False when the view holds more than 10,000 events: total is then 10,000.")
    page: int
    page_size: int
