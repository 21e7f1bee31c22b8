"""The event workflow as one table: ``(state, action, outcome) → state``, and who may act.

Nothing else in gridhub changes an event's state: ``service.apply_action`` looks the step up here and
refuses whatever the table does not hold. ``None`` as the target means the action changes no state (✱
in DESIGN section 3). Outcomes split the actions that end two ways (核查 pass/fail, 延期审批
approve/refuse); every other action has the single outcome ``done``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dispatch.models import State


class Action(enum.StrEnum):
    REPORT = "report"  # 新增/上报事件
    ACCEPT = "accept"  # 受理
    REJECT = "reject"  # 不予受理
    REOPEN = "reopen"  # 恢复受理 (within 24 h of a rejection)
    ASSIGN = "assign"  # 交办
    ESCALATE = "escalate"  # 上报 (to the upper level)
    TRANSFER = "transfer"  # 流转
    RETURN = "return"  # 退回
    SIGN = "sign"  # 签收
    HANDLE = "handle"  # 办理/处置
    VERIFY = "verify"  # 核查
    EVALUATE = "evaluate"  # 评价
    URGE = "urge"  # 催办
    TAG = "tag"  # 打标签
    EXTEND = "extend"  # 延期申请
    APPROVE_EXTENSION = "approve_extension"  # 延期审批
    COMMENT = "comment"  # 备注


class Party(enum.StrEnum):
    """How a user stands to an event; each action names the parties that may take it."""

    HANDLING_DISPATCHER = "handling_dispatcher"  # dispatcher/admin of the owning command room or above
    AREA_LEADER = "area_leader"  # leader whose area holds the event
    ASSIGNEE = "assignee"
    REPORTER = "reporter"
    VIEWER = "viewer"  # anyone who may see the event


class Outcome(enum.StrEnum):
    DONE = "done"
    PASS = "pass"
    FAIL = "fail"
    APPROVE = "approve"
    REFUSE = "refuse"


OPEN_STATES: frozenset[State] = frozenset(
    {State.PENDING, State.ACCEPTED, State.ASSIGNED, State.IN_PROGRESS, State.PENDING_VERIFY}
)
ALL_STATES: frozenset[State] = frozenset(State)

_D = Party.HANDLING_DISPATCHER
_L = Party.AREA_LEADER
_A = Party.ASSIGNEE
_R = Party.REPORTER
_V = Party.VIEWER


@dataclass(frozen=True, slots=True)
class Step:
    """One row of the table: an action from some states, its outcome, the target, who may take it."""

    action: Action
    sources: frozenset[State]
    target: State | None
    parties: frozenset[Party]
    outcome: Outcome = Outcome.DONE


STEPS: tuple[Step, ...] = (
    Step(Action.ACCEPT, frozenset({State.PENDING}), State.ACCEPTED, frozenset({_D})),
    Step(Action.REJECT, frozenset({State.PENDING}), State.REJECTED, frozenset({_D})),
    Step(Action.REOPEN, frozenset({State.REJECTED}), State.PENDING, frozenset({_D})),
    Step(Action.ASSIGN, frozenset({State.ACCEPTED}), State.ASSIGNED, frozenset({_D})),
    Step(
        Action.ESCALATE,
        frozenset({State.ACCEPTED, State.ASSIGNED, State.IN_PROGRESS}),
        State.ACCEPTED,
        frozenset({_D, _A}),
    ),
    Step(Action.TRANSFER, frozenset({State.ASSIGNED, State.IN_PROGRESS}), State.ASSIGNED, frozenset({_D, _A})),
    Step(Action.RETURN, frozenset({State.ASSIGNED}), State.ACCEPTED, frozenset({_A})),
    Step(Action.SIGN, frozenset({State.ASSIGNED}), State.IN_PROGRESS, frozenset({_A})),
    Step(Action.HANDLE, frozenset({State.IN_PROGRESS}), State.PENDING_VERIFY, frozenset({_A})),
    Step(Action.VERIFY, frozenset({State.PENDING_VERIFY}), State.CLOSED, frozenset({_D}), Outcome.PASS),
    Step(Action.VERIFY, frozenset({State.PENDING_VERIFY}), State.IN_PROGRESS, frozenset({_D}), Outcome.FAIL),
    Step(Action.EVALUATE, frozenset({State.CLOSED}), None, frozenset({_R, _D})),
    Step(Action.URGE, OPEN_STATES, None, frozenset({_D, _L})),
    Step(Action.TAG, ALL_STATES, None, frozenset({_D})),
    Step(Action.EXTEND, frozenset({State.IN_PROGRESS}), None, frozenset({_A})),
    Step(Action.APPROVE_EXTENSION, frozenset({State.IN_PROGRESS}), None, frozenset({_D, _L}), Outcome.APPROVE),
    Step(Action.APPROVE_EXTENSION, frozenset({State.IN_PROGRESS}), None, frozenset({_D, _L}), Outcome.REFUSE),
    Step(Action.COMMENT, ALL_STATES, None, frozenset({_V})),
)

#: The table itself: ``(state, action, outcome) → step``.
TRANSITIONS: dict[tuple[State, Action, Outcome], Step] = {
    (source, step.action, step.outcome): step for step in STEPS for source in step.sources
}

#: Actions taken through ``apply_action`` (``report`` creates the event and is not in the table).
EVENT_ACTIONS: tuple[Action, ...] = tuple(dict.fromkeys(step.action for step in STEPS))


def find_step(state: State, action: Action, outcome: Outcome = Outcome.DONE) -> Step | None:
    """The step the table holds for this state, action and outcome, or None where it is refused."""
    return TRANSITIONS.get((state, action, outcome))


def actions_from(state: State) -> list[Action]:
    """Every action the table allows from ``state``, in table order."""
    return [a for a in EVENT_ACTIONS if any((state, a, o) in TRANSITIONS for o in Outcome)]


def actions_for(state: State, parties: set[Party]) -> list[Action]:
    """The actions a user standing as ``parties`` may take from ``state`` (what a UI offers)."""
    return [
        a
        for a in actions_from(state)
        if any((step := TRANSITIONS.get((state, a, o))) is not None and step.parties & parties for o in Outcome)
    ]
