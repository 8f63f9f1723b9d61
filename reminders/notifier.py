"""The notifier interface the dispatcher delivers through, and the console's notifier.

A notifier turns one :class:`ReminderMessage` into one delivery and says how it went
(:class:`Delivery`). It is called OUTSIDE any database transaction and may block (a Web API
call); it must not raise for a failed delivery, it reports it. A Slack notifier fits as:

* ``Target.kind == "user"``: ``conversations.open`` with the user id, then ``chat.postMessage``
  to the DM channel; ``"channel"``: ``chat.postMessage`` to the channel id.
* Buttons carry ``message.reminder_id`` as their value: Acknowledge (``Services.
  acknowledge_reminder``), Snooze 15 min (``Services.snooze_reminder``, shown while
  ``snoozes_left``), Enter assessment (opens the form for ``case_code``). The ``channel``/``ts``
  of the level-0 delivery are stored on the reminder, so the press can update that message.
* ``ok`` -> :meth:`Delivery.sent`; 429 or 5xx or a timeout -> :meth:`Delivery.retry` with
  ``Retry-After`` seconds when given; ``user_not_found``, ``channel_not_found``,
  ``is_archived``, ``not_in_channel``... -> :meth:`Delivery.failed` with the error code.

Messages carry the case code only: no patient identifier and never a free-text note. The words
are workflow (D19): "reassessment due / overdue, not acknowledged".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal, Protocol, TextIO

KIND_TEXT: Final = {
    "reassess_vitals": "vitals and CRS check",
    "reassess_neuro": "neuro screen (ICE or CAPD)",
    "refractory_review": "clinician re-review of a refractory flag (D16)",
}


class Role(StrEnum):
    """Why this target gets the message."""

    RECIPIENT = "recipient"  # the case's nurse (the reminder's own recipient)
    CHARGE_NURSE = "charge_nurse"  # level 1: the unit's charge nurse
    ON_CALL = "on_call"  # level 2, or a clinician re-review: the on-call clinician channel


@dataclass(frozen=True, slots=True)
class Target:
    """Where a message goes: a Slack user id (a DM) or a channel id."""

    kind: Literal["user", "channel"]
    id: str
    role: Role


@dataclass(frozen=True, slots=True)
class ReminderMessage:
    """One message about one reminder to one target. Case code only; no free text."""

    reminder_id: int
    case_code: str
    kind: str  # reassess_vitals, reassess_neuro, refractory_review
    due_at: datetime
    level: int
    target: Target
    late_by: timedelta  # how late the delivery is against due_at (zero when on time)
    overdue: bool
    crs_grade: int | None = None  # the last recorded grades, when there are any
    icans_grade: int | None = None
    snoozes_left: int = 0
    attempt: int = 1
    recipient: str | None = None  # the reminder's own recipient, named in escalations

    @property
    def what(self) -> str:
        """What is due, in the clinic's words."""
        return KIND_TEXT.get(self.kind, self.kind)


class Outcome(StrEnum):
    """How a delivery went."""

    SENT = "sent"
    RETRY = "retry"  # transient: try again (after ``retry_after`` when the server said)
    FAILED = "failed"  # permanent: escalate at once


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery's result. ``error`` is a code (``user_not_found``), never message text."""

    outcome: Outcome
    channel: str | None = None
    ts: str | None = None
    retry_after: float | None = None
    error: str | None = None

    @classmethod
    def sent(cls, channel: str | None = None, ts: str | None = None) -> Delivery:
        """Delivered; ``channel``/``ts`` locate the message so a button press can update it."""
        return cls(Outcome.SENT, channel=channel, ts=ts)

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None) -> Delivery:
        """A transient failure (429, 5xx, timeout): the dispatcher tries again."""
        return cls(Outcome.RETRY, retry_after=retry_after, error=error)

    @classmethod
    def failed(cls, error: str) -> Delivery:
        """A permanent failure (user not found, channel gone): the reminder escalates at once."""
        return cls(Outcome.FAILED, error=error)


class Notifier(Protocol):
    """Delivers reminder messages (Slack DM and channel, console, a test fake)."""

    def deliver(self, message: ReminderMessage) -> Delivery:
        """Deliver one message and say how it went; report failures, do not raise them."""
        ...


def late_text(late_by: timedelta) -> str:
    """'on time', or how late in whole minutes ('12 min late', '2 h 5 min late')."""
    minutes = int(late_by.total_seconds() // 60)
    if minutes < 1:
        return "on time"
    hours, rest = divmod(minutes, 60)
    return (f"{hours} h {rest} min" if hours else f"{rest} min") + " late"


def message_text(message: ReminderMessage) -> str:
    """One readable line for a message (the console's; a Slack notifier may reuse it)."""
    status = "overdue" if message.overdue else "due"
    grades = ", ".join(
        f"{name} {grade}"
        for name, grade in (("CRS", message.crs_grade), ("ICANS", message.icans_grade))
        if grade is not None
    )
    parts = [
        f"Reminder {message.reminder_id}: {message.case_code} {message.what} {status} "
        f"at {message.due_at:%Y-%m-%d %H:%M} UTC ({late_text(message.late_by)})",
    ]
    if grades:
        parts.append(f"last grades {grades}")
    if message.level == 1:
        parts.append(f"not acknowledged by {message.recipient or 'the nurse'}: charge nurse told")
    elif message.level >= 2:
        parts.append(f"not acknowledged by {message.recipient or 'the nurse'}: on-call told")
    return "; ".join(parts)


class ConsoleNotifier:
    """Prints each reminder as a readable line to a stream (the console front end)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def deliver(self, message: ReminderMessage) -> Delivery:
        """Print the message; a console never fails in a way worth retrying."""
        who = "@" + message.target.id if message.target.kind == "user" else "#" + message.target.id
        self._stream.write(f"[reminder → {who}] {message_text(message)}\n")
        self._stream.flush()
        return Delivery.sent(channel="console", ts=str(message.reminder_id))
