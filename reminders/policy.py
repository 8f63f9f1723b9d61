"""What a reminder needs at a given moment: send, repeat, escalate, or wait (pure).

The rules are clinical reference §0.1 (reassessment reminders and their escalation) and D16
(refractory re-reviews to the responsible clinician), with every timeout read from the protocol's
:class:`grading.protocol.Escalation`. Nothing here reads a clock or a database: the dispatcher
passes the row's facts and ``now``. All moments are timezone-aware UTC; a due time is a UTC
instant, so a daylight-saving change in the unit's zone never moves it.

Levels (PagerDuty-style, §0.1):

* 0: the reminder goes to its recipient (the case's nurse; the on-call channel for a clinician
  re-review, which has no nurse recipient).
* 1: unacknowledged ``repeat_and_charge_nurse_after_min`` after it was sent: repeated to the
  recipient AND sent to the unit's charge nurse.
* 2: unacknowledged ``on_call_channel_after_min`` after it was sent: the on-call clinician channel.

Overdue: the assessment still not recorded ``overdue_after_min`` after the due time (the reminder
still open) marks the reminder overdue and escalates it the same way: level 1 at once, level 2 a
further ``on_call - repeat`` minutes later. Overdue runs from ``due_at``, so neither a snooze nor
a late delivery pushes it back. A snooze restarts the acknowledgement clock only.

One step raises the level by one at most; the dispatcher asks again at once when a further step
is already due, so a row three hours late is sent, then escalated to 1, then to 2, each delivery
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from grading.protocol import Escalation

TOP_LEVEL: Final = 2
"""The on-call clinician channel: nothing escalates beyond it."""


class State(StrEnum):
    """A reminder's state (design §3); the value is what ``reminder.state`` holds."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SNOOZED = "snoozed"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


TERMINAL: Final = frozenset({State.ACKNOWLEDGED, State.RESOLVED, State.CANCELLED})
"""States nothing leaves: an acknowledged reminder never escalates."""


class Action(StrEnum):
    """What a reminder needs now."""

    WAIT = "wait"  # nothing yet; look again at ``Step.wake_at`` (None: never)
    SEND = "send"  # deliver at level 0 to the recipient
    ESCALATE = "escalate"  # deliver at ``Step.level`` (one above the row's)


class Reason(StrEnum):
    """Why a step was taken; goes into the audit detail and the message."""

    NOT_DUE = "not_due"
    DUE = "due"
    SNOOZE_ENDED = "snooze_ended"
    UNACKNOWLEDGED = "unacknowledged"
    OVERDUE = "overdue"
    DELIVERY_FAILED = "delivery_failed"
    TOP_LEVEL = "top_level"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the escalation table, with its source."""

    name: str
    text: str
    source: str


RULES: Final = (
    Rule("send", "due: send to the case's nurse (the clinician re-review: on-call)", "§0.1, D16"),
    Rule(
        "repeat",
        "unacknowledged repeat_and_charge_nurse_after_min after sending: repeat, charge nurse",
        "§0.1",
    ),
    Rule("on_call", "unacknowledged on_call_channel_after_min after sending: on-call", "§0.1"),
    Rule(
        "overdue", "not recorded overdue_after_min after due: overdue, escalated the same", "§0.1"
    ),
    Rule("snooze", "snooze snooze_min, at most max_snoozes times per reminder", "§0.1"),
    Rule("failed", "a permanent delivery error escalates at once", "issue 6"),
)
"""The table this module implements, for docs and tests (each row cites its source)."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What the policy needs to know about one reminder row."""

    state: State
    level: int
    due_at: datetime
    sent_at: datetime | None = None  # last delivery to the recipient at level 0
    wake_at: datetime | None = None  # snoozed: when the snooze ends
    snooze_count: int = 0


@dataclass(frozen=True, slots=True)
class Step:
    """The policy's answer: what to do now, at which level, and when to look again."""

    action: Action
    level: int
    reason: Reason
    overdue: bool = False
    wake_at: datetime | None = None  # WAIT: the next moment something can change


def _minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def overdue_level(due_at: datetime, escalation: Escalation, now: datetime) -> int:
    """The level the overdue rule asks for at ``now`` (§0.1): 0 before, 1, then 2."""
    overdue_at = due_at + _minutes(escalation.overdue_after_min)
    if now < overdue_at:
        return 0
    gap = escalation.on_call_channel_after_min - escalation.repeat_and_charge_nurse_after_min
    return 1 if now < overdue_at + _minutes(max(gap, 0)) else 2


def acknowledgement_level(sent_at: datetime, escalation: Escalation, now: datetime) -> int:
    """The level the unacknowledged rule asks for at ``now`` (§0.1): 0, 1 after 15, 2 after 30."""
    if now < sent_at + _minutes(escalation.repeat_and_charge_nurse_after_min):
        return 0
    return 1 if now < sent_at + _minutes(escalation.on_call_channel_after_min) else 2


def _thresholds(facts: Facts, escalation: Escalation) -> list[tuple[datetime, int]]:
    """Every (moment, level asked for from then on) of both rules."""
    overdue_at = facts.due_at + _minutes(escalation.overdue_after_min)
    gap = escalation.on_call_channel_after_min - escalation.repeat_and_charge_nurse_after_min
    moments = [(overdue_at, 1), (overdue_at + _minutes(max(gap, 0)), 2)]
    if facts.sent_at is not None and facts.state is not State.SNOOZED:
        moments.append((facts.sent_at + _minutes(escalation.repeat_and_charge_nurse_after_min), 1))
        moments.append((facts.sent_at + _minutes(escalation.on_call_channel_after_min), 2))
    return moments


def next_step(facts: Facts, escalation: Escalation, now: datetime) -> Step:
    """What ``facts`` needs at ``now`` under ``escalation`` (the table in the module docstring).

    ``SENDING`` rows are the dispatcher's business (a delivery owed at their level, after a
    transient failure or a crash); asked about one, the policy answers the delivery it owes, one
    level up when the overdue rule has passed that level meanwhile.
    """
    _aware(now)
    if facts.state in TERMINAL:
        return Step(Action.WAIT, facts.level, Reason.CLOSED)
    overdue = overdue_level(facts.due_at, escalation, now)
    if facts.state is State.SENDING:
        # Still failing (or crashed) when it fell overdue: the next level, which repeats to
        # the recipient too, rather than the same delivery again.
        if overdue > facts.level:
            return Step(Action.ESCALATE, facts.level + 1, Reason.OVERDUE, overdue=True)
        action = Action.SEND if facts.level == 0 else Action.ESCALATE
        return Step(action, facts.level, Reason.DUE, overdue=overdue > 0)
    if facts.state is State.PENDING:
        if now < facts.due_at:
            return Step(Action.WAIT, 0, Reason.NOT_DUE, wake_at=facts.due_at)
        return Step(Action.SEND, 0, Reason.DUE, overdue=overdue > 0)
    if facts.state is State.SNOOZED:
        if overdue > facts.level:
            return Step(Action.ESCALATE, facts.level + 1, Reason.OVERDUE, overdue=True)
        if facts.wake_at is None or now >= facts.wake_at:
            return Step(Action.SEND, 0, Reason.SNOOZE_ENDED, overdue=overdue > 0)
        later = [m for m, level in _thresholds(facts, escalation) if level > facts.level]
        wake = min([facts.wake_at, *(m for m in later if m > now)])
        return Step(Action.WAIT, facts.level, Reason.NOT_DUE, overdue=overdue > 0, wake_at=wake)
    # SENT or ESCALATED: the acknowledgement clock runs from the last send to the recipient.
    if facts.level >= TOP_LEVEL:
        return Step(Action.WAIT, facts.level, Reason.TOP_LEVEL, overdue=overdue > 0)
    sent_at = facts.sent_at if facts.sent_at is not None else facts.due_at
    unacknowledged = acknowledgement_level(sent_at, escalation, now)
    if max(unacknowledged, overdue) > facts.level:
        reason = Reason.UNACKNOWLEDGED if unacknowledged > facts.level else Reason.OVERDUE
        return Step(Action.ESCALATE, facts.level + 1, reason, overdue=overdue > 0)
    pending = [m for m, level in _thresholds(facts, escalation) if level > facts.level and m > now]
    return Step(
        Action.WAIT,
        facts.level,
        Reason.NOT_DUE,
        overdue=overdue > 0,
        wake_at=min(pending) if pending else None,
    )


def after_permanent_failure(level: int) -> Step:
    """A delivery at ``level`` failed for good (user not found, channel gone): escalate at once.

    At the top level there is no one further: the row stays escalated and the failure is
    recorded (the dispatcher logs it by error code for the operator).
    """
    if level >= TOP_LEVEL:
        return Step(Action.WAIT, level, Reason.TOP_LEVEL)
    return Step(Action.ESCALATE, level + 1, Reason.DELIVERY_FAILED)


@dataclass(frozen=True, slots=True)
class SnoozeDecision:
    """Whether a snooze is allowed; ``until`` when it is, ``refusal`` (for the nurse) when not."""

    allowed: bool
    until: datetime | None = None
    refusal: str | None = None


SNOOZABLE: Final = frozenset({State.SENT, State.ESCALATED, State.SENDING})


def snooze(facts: Facts, escalation: Escalation, now: datetime) -> SnoozeDecision:
    """Snooze ``snooze_min`` minutes, at most ``max_snoozes`` times per reminder (§0.1)."""
    _aware(now)
    if facts.state not in SNOOZABLE:
        return SnoozeDecision(False, refusal=f"This reminder is {facts.state.value}: no snooze.")
    if facts.snooze_count >= escalation.max_snoozes:
        return SnoozeDecision(
            False,
            refusal=(
                f"Already snoozed {facts.snooze_count} times (the protocol allows "
                f"{escalation.max_snoozes}): acknowledge it or enter the assessment."
            ),
        )
    return SnoozeDecision(True, until=now + _minutes(escalation.snooze_min))


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: reminder times are timezone-aware (UTC)")
