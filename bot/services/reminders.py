"""Reminder buttons as use cases: acknowledge and snooze (clinical reference §0.1).

Each runs in the caller's transaction (``Services`` opens it, checks the ``reminder.ack`` role
and audits); this module checks the ASSIGNMENT and changes the row. Both are idempotent: a second
press finds the row already acknowledged (or already snoozed) and returns it unchanged, so a
double click or Slack's retry changes nothing. Updates bump ``version`` under a row lock, so the
dispatcher finishing a delivery at the same moment sees the change and leaves the row alone.

Who may press: the reminder's recipient, one of the case's nurses, a nurse of the case's unit
(``member.unit``: the charge nurse, who gets level 1), or any clinician or admin.

The snooze rule (``snooze_min``, at most ``max_snoozes``) is the same as
``reminders.policy.snooze``; it is written here too because ``bot`` never imports ``reminders``
(design §1), and a test holds the two to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db import models
from bot.services.errors import ServiceError
from bot.services.members import Role
from grading.protocol import Escalation

ACKNOWLEDGED: Final = "acknowledged"
SNOOZED: Final = "snoozed"
ACKNOWLEDGEABLE: Final = frozenset({"pending", "sending", "sent", "snoozed", "escalated"})
SNOOZABLE: Final = frozenset({"sending", "sent", "escalated"})


class ReminderNotFound(ServiceError):
    """No reminder has this id (a stale button, or a mistyped id)."""

    def __init__(self, reminder_id: int) -> None:
        super().__init__(f"No reminder {reminder_id}: it may have been removed. See /tox due.")
        self.reminder_id = reminder_id


class NotAssigned(ServiceError):
    """The actor has the role but is not assigned to this case's reminder."""

    def __init__(self) -> None:
        super().__init__(
            "Not allowed: this reminder is for the case's nurses, its unit, or a clinician. "
            "Ask the case's nurse or the charge nurse."
        )


@dataclass(frozen=True, slots=True)
class ReminderStatus:
    """A reminder after a button press, for the front end to render.

    ``changed`` is False for a repeat press (nothing was done again) and for a refusal;
    ``refusal`` says why a snooze was refused, in words for the nurse.
    """

    reminder_id: int
    case_code: str
    kind: str
    state: str
    level: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    snooze_count: int
    snoozed_until: datetime | None
    changed: bool
    refusal: str | None = None

    def text(self, zone: tzinfo | None = None) -> str:
        """One line such as 'acknowledged by U123 at 14:05' (UTC unless ``zone`` is given)."""
        if self.refusal is not None:
            return self.refusal
        if self.state == ACKNOWLEDGED and self.acknowledged_at is not None:
            return f"acknowledged by {self.acknowledged_by} at {_clock(self.acknowledged_at, zone)}"
        if self.state == SNOOZED and self.snoozed_until is not None:
            return (
                f"snoozed until {_clock(self.snoozed_until, zone)} "
                f"({self.snooze_count} of the snoozes allowed used)"
            )
        if self.state == "resolved":
            return "resolved: the assessment was recorded"
        if self.state == "cancelled":
            return "cancelled: the case was closed"
        return self.state


def _clock(moment: datetime, zone: tzinfo | None) -> str:
    shown = moment.astimezone(zone) if zone is not None else moment
    return shown.strftime("%H:%M") + ("" if zone is not None else " UTC")


def locked_reminder(session: Session, reminder_id: int) -> tuple[models.Reminder, models.Case]:
    """The reminder, locked for update, with its case; :class:`ReminderNotFound` otherwise."""
    found = session.execute(
        select(models.Reminder, models.Case)
        .join(models.Case, models.Case.id == models.Reminder.case_id)
        .where(models.Reminder.id == reminder_id)
        .with_for_update(of=models.Reminder)
    ).first()
    if found is None:
        raise ReminderNotFound(reminder_id)
    return found[0], found[1]


def is_assigned(
    session: Session, reminder: models.Reminder, case: models.Case, user: str, role: str | None
) -> bool:
    """Whether ``user`` (with ``role``) may act on this reminder (module docstring)."""
    if role in (Role.CLINICIAN.value, Role.ADMIN.value):
        return True
    if user == reminder.recipient or user in (case.nurses or []):
        return True
    if case.unit is None:
        return False
    unit = session.scalar(select(models.Member.unit).where(models.Member.slack_user_id == user))
    return unit is not None and unit == case.unit


def acknowledge(
    session: Session, reminder: models.Reminder, case: models.Case, *, user: str, at: datetime
) -> ReminderStatus:
    """Acknowledge an open reminder: it stops escalating. Already closed: returned unchanged."""
    if reminder.state not in ACKNOWLEDGEABLE:
        return status(reminder, case, changed=False)
    _update(
        session,
        reminder,
        at,
        state=ACKNOWLEDGED,
        acknowledged_by=user,
        acknowledged_at=at,
        wake_at=None,
    )
    return status(reminder, case, changed=True)


def snooze(
    session: Session,
    reminder: models.Reminder,
    case: models.Case,
    *,
    escalation: Escalation,
    at: datetime,
) -> ReminderStatus:
    """Snooze ``snooze_min`` minutes, at most ``max_snoozes`` times (§0.1); a repeat is a no-op."""
    if reminder.state == SNOOZED:
        return status(reminder, case, changed=False)
    if reminder.state not in SNOOZABLE:
        return status(
            reminder, case, changed=False, refusal=f"This reminder is {reminder.state}: no snooze."
        )
    if reminder.snooze_count >= escalation.max_snoozes:
        refusal = (
            f"Already snoozed {reminder.snooze_count} times (the protocol allows "
            f"{escalation.max_snoozes}): acknowledge it or enter the assessment."
        )
        return status(reminder, case, changed=False, refusal=refusal)
    _update(
        session,
        reminder,
        at,
        state=SNOOZED,
        snooze_count=reminder.snooze_count + 1,
        wake_at=at + timedelta(minutes=escalation.snooze_min),
    )
    return status(reminder, case, changed=True)


def status(
    reminder: models.Reminder, case: models.Case, *, changed: bool, refusal: str | None = None
) -> ReminderStatus:
    """The row as a :class:`ReminderStatus`."""
    return ReminderStatus(
        reminder_id=reminder.id,
        case_code=case.code,
        kind=reminder.kind,
        state=reminder.state,
        level=reminder.level,
        acknowledged_by=reminder.acknowledged_by,
        acknowledged_at=reminder.acknowledged_at,
        snooze_count=reminder.snooze_count,
        snoozed_until=reminder.wake_at if reminder.state == SNOOZED else None,
        changed=changed,
        refusal=refusal,
    )


def _update(session: Session, reminder: models.Reminder, at: datetime, **values: object) -> None:
    """Change the locked row and bump its version (the dispatcher's finish checks it)."""
    session.execute(
        update(models.Reminder)
        .where(models.Reminder.id == reminder.id)
        .values(**values, updated_at=at, version=models.Reminder.version + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(reminder)
