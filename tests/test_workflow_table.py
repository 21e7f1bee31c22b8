"""The workflow table itself: every state reachable, terminal states right, warnings computed right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.models import Event, State
from dispatch.service import warning_of
from dispatch.workflow import STEPS, TRANSITIONS, Action, Outcome, Party, actions_for, actions_from, find_step


def test_every_state_is_reachable_from_pending() -> None:
    seen, frontier = {State.PENDING}, [State.PENDING]
    while frontier:
        state = frontier.pop()
        for (source, _action, _outcome), step in TRANSITIONS.items():
            if source == state and step.target is not None and step.target not in seen:
                seen.add(step.target)
                frontier.append(step.target)
    assert seen == set(State)


def test_table_matches_design_section_3() -> None:
    assert find_step(State.PENDING, Action.ACCEPT).target is State.ACCEPTED
    assert find_step(State.PENDING_VERIFY, Action.VERIFY, Outcome.PASS).target is State.CLOSED
    assert find_step(State.PENDING_VERIFY, Action.VERIFY, Outcome.FAIL).target is State.IN_PROGRESS
    assert find_step(State.IN_PROGRESS, Action.ESCALATE).target is State.ACCEPTED
    assert find_step(State.CLOSED, Action.EVALUATE).target is None
    assert find_step(State.CLOSED, Action.URGE) is None
    assert find_step(State.PENDING, Action.SIGN) is None
    assert actions_from(State.CLOSED) == [Action.EVALUATE, Action.TAG, Action.COMMENT]
    assert all(step.parties for step in STEPS)


def test_actions_for_depend_on_the_party() -> None:
    assert actions_for(State.ASSIGNED, {Party.ASSIGNEE, Party.VIEWER}) == [
        Action.ESCALATE, Action.TRANSFER, Action.RETURN, Action.SIGN, Action.COMMENT,
    ]  # fmt: skip
    assert actions_for(State.PENDING, {Party.VIEWER}) == [Action.COMMENT]


def test_warning_levels() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    event = Event(
        state=State.IN_PROGRESS.value, deadline_at=start + timedelta(hours=10), warn_at=start + timedelta(hours=8)
    )
    assert warning_of(event, start + timedelta(hours=7)) == "none"
    assert warning_of(event, start + timedelta(hours=8, minutes=1)) == "yellow"
    assert warning_of(event, start + timedelta(hours=10, minutes=1)) == "red"
    event.state = State.CLOSED.value
    assert warning_of(event, start + timedelta(hours=11)) == "none"
