"""The reminder policy as a table (clinical reference §0.1 and D16), on an injected moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from grading.protocol import Escalation
from reminders.policy import (
    RULES,
    Action,
    Facts,
    Reason,
    State,
    after_permanent_failure,
    next_step,
    snooze,
)

DUE = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
ESCALATION = Escalation()  # the protocol defaults: 15, 30, 30, snooze 15, twice


def at(minutes: float) -> datetime:
    return DUE + timedelta(minutes=minutes)


# (state, level, sent at (min after due), wake_at (min), minutes now, action, level, reason,
#  overdue, source)
TABLE = [
    (State.PENDING, 0, None, None, -1, Action.WAIT, 0, Reason.NOT_DUE, False, "§0.1"),
    (State.PENDING, 0, None, None, 0, Action.SEND, 0, Reason.DUE, False, "§0.1"),
    (State.PENDING, 0, None, None, 45, Action.SEND, 0, Reason.DUE, True, "§0.1 overdue"),
    (State.SENT, 0, 0, None, 14.9, Action.WAIT, 0, Reason.NOT_DUE, False, "§0.1 15 min"),
    (State.SENT, 0, 0, None, 15, Action.ESCALATE, 1, Reason.UNACKNOWLEDGED, False, "§0.1"),
    (State.ESCALATED, 1, 0, None, 29.9, Action.WAIT, 1, Reason.NOT_DUE, False, "§0.1 30 min"),
    (State.ESCALATED, 1, 0, None, 30, Action.ESCALATE, 2, Reason.UNACKNOWLEDGED, True, "§0.1"),
    (State.ESCALATED, 2, 0, None, 300, Action.WAIT, 2, Reason.TOP_LEVEL, True, "§0.1 top"),
    # Sent 10 min late: the acknowledgement clock says level 0 until 25, overdue says 1 at 30.
    (State.SENT, 0, 10, None, 24, Action.WAIT, 0, Reason.NOT_DUE, False, "§0.1"),
    (State.SENT, 0, 20, None, 30, Action.ESCALATE, 1, Reason.OVERDUE, True, "§0.1 overdue"),
    (State.SNOOZED, 0, 0, 20, 19, Action.WAIT, 0, Reason.NOT_DUE, False, "§0.1 snooze"),
    (State.SNOOZED, 0, 0, 20, 20, Action.SEND, 0, Reason.SNOOZE_ENDED, False, "§0.1 snooze"),
    (State.SNOOZED, 0, 0, 40, 30, Action.ESCALATE, 1, Reason.OVERDUE, True, "§0.1 overdue"),
    # A delivery still owed (transient failure, crash): retried at its level until overdue.
    (State.SENDING, 0, None, None, 10, Action.SEND, 0, Reason.DUE, False, "issue 6 retry"),
    (State.SENDING, 0, None, None, 31, Action.ESCALATE, 1, Reason.OVERDUE, True, "§0.1 overdue"),
    (State.ACKNOWLEDGED, 0, 0, None, 600, Action.WAIT, 0, Reason.CLOSED, True, "§0.1 ack"),
    (State.RESOLVED, 0, 0, None, 600, Action.WAIT, 0, Reason.CLOSED, True, "§0.1"),
    (State.CANCELLED, 1, 0, None, 600, Action.WAIT, 1, Reason.CLOSED, True, "case closed"),
]


@pytest.mark.parametrize(
    ("state", "level", "sent", "wake", "now", "action", "to_level", "reason", "overdue", "source"),
    TABLE,
)
def test_the_escalation_table(
    state: State,
    level: int,
    sent: float | None,
    wake: float | None,
    now: float,
    action: Action,
    to_level: int,
    reason: Reason,
    overdue: bool,
    source: str,
) -> None:
    facts = Facts(
        state=state,
        level=level,
        due_at=DUE,
        sent_at=None if sent is None else at(sent),
        wake_at=None if wake is None else at(wake),
    )
    step = next_step(facts, ESCALATION, at(now))
    assert (step.action, step.level, step.reason) == (action, to_level, reason), source
    if state not in (State.ACKNOWLEDGED, State.RESOLVED, State.CANCELLED):
        assert step.overdue is overdue, source


def test_an_acknowledged_reminder_never_escalates_whatever_the_time() -> None:
    for minutes in (0, 15, 30, 45, 600, 10_000):
        step = next_step(Facts(State.ACKNOWLEDGED, 0, DUE, at(0)), ESCALATION, at(minutes))
        assert step.action is Action.WAIT
        assert step.wake_at is None


def test_waiting_says_when_to_look_again() -> None:
    """Sent at due: the next change is the repeat at +15, then on-call at +30."""
    sent = Facts(State.SENT, 0, DUE, sent_at=at(0))
    assert next_step(sent, ESCALATION, at(1)).wake_at == at(15)
    escalated = Facts(State.ESCALATED, 1, DUE, sent_at=at(0))
    assert next_step(escalated, ESCALATION, at(16)).wake_at == at(30)
    pending = Facts(State.PENDING, 0, DUE)
    assert next_step(pending, ESCALATION, at(-60)).wake_at == DUE


def test_timeouts_come_from_the_protocol() -> None:
    quick = Escalation(
        repeat_and_charge_nurse_after_min=5, on_call_channel_after_min=10, overdue_after_min=60
    )
    sent = Facts(State.SENT, 0, DUE, sent_at=at(0))
    assert next_step(sent, quick, at(5)).action is Action.ESCALATE
    assert next_step(sent, ESCALATION, at(5)).action is Action.WAIT
    escalated = Facts(State.ESCALATED, 1, DUE, sent_at=at(0))
    assert next_step(escalated, quick, at(10)).level == 2


def test_snooze_fifteen_minutes_at_most_twice() -> None:
    """§0.1: snooze 15 min, at most twice per reminder; a third is refused with a reason."""
    for count in (0, 1):
        decision = snooze(Facts(State.SENT, 0, DUE, at(0), snooze_count=count), ESCALATION, at(3))
        assert decision.allowed
        assert decision.until == at(18)
    third = snooze(Facts(State.SENT, 0, DUE, at(0), snooze_count=2), ESCALATION, at(3))
    assert not third.allowed
    assert third.refusal is not None
    assert "allows 2" in third.refusal
    assert not snooze(Facts(State.PENDING, 0, DUE), ESCALATION, at(0)).allowed


def test_a_permanent_delivery_failure_escalates_at_once() -> None:
    assert after_permanent_failure(0).action is Action.ESCALATE
    assert after_permanent_failure(0).level == 1
    assert after_permanent_failure(1).level == 2
    assert after_permanent_failure(2).action is Action.WAIT  # nobody above on-call


@pytest.mark.parametrize(
    "local",
    [
        datetime(2027, 3, 14, 1, 30),  # America/New_York: 02:00 jumps to 03:00 (spring)
        datetime(2026, 11, 1, 1, 30),  # 01:00-02:00 happens twice (autumn)
    ],
)
def test_daylight_saving_never_moves_a_utc_due_time(local: datetime) -> None:
    """A due time is a UTC instant: across a DST change the steps fall exactly 15/30 min later."""
    due = local.replace(tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    facts = Facts(State.SENT, 0, due, sent_at=due)
    assert next_step(facts, ESCALATION, due + timedelta(minutes=14, seconds=59)).action is (
        Action.WAIT
    )
    assert next_step(facts, ESCALATION, due + timedelta(minutes=15)).level == 1
    assert next_step(facts, ESCALATION, due + timedelta(minutes=1)).wake_at == due + timedelta(
        minutes=15
    )


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        next_step(Facts(State.PENDING, 0, DUE), ESCALATION, datetime(2026, 11, 20, 14, 0))


def test_every_rule_cites_its_source() -> None:
    assert all(rule.source for rule in RULES)
