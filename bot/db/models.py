"""The tables of design §3, as SQLAlchemy 2 typed declarative models.

Times are stored timezone-aware (UTC). Free-text notes live in their own column and never in an
audit detail or a log. The ``case`` table holds a pseudonymous code only: no name, MRN or birth
date has a column to go in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    literal_column,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names, so migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware moment stored in UTC and always read back aware.

    SQLite keeps no zone and PostgreSQL returns the session's; both come back as UTC here, and
    a naive datetime is refused on the way in: a time without a zone is a bug, not a value.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: toxbot stores timezone-aware moments only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with naming conventions and aware datetimes."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class Case(Base):
    """A patient's course after infusion, known only by its pseudonymous code."""

    __tablename__ = "case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    product: Mapped[str] = mapped_column(String(40))
    infused_at: Mapped[datetime]
    weight_kg: Mapped[float] = mapped_column(Float)
    age_years: Mapped[float | None] = mapped_column(Float)
    developmental_delay: Mapped[bool | None]
    baseline_capd: Mapped[int | None]
    unit: Mapped[str | None] = mapped_column(String(60))
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32))
    nurses: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    outcome: Mapped[str | None] = mapped_column(String(40))
    death_attributed_to: Mapped[str | None] = mapped_column(String(8))
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # Bumped by every write to the case's history: a cached copy of the history is current
    # exactly when its revision matches (bot.services.state_cache).
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    assessments: Mapped[list[Assessment]] = relationship(
        back_populates="case", order_by="Assessment.assessed_at"
    )


class Assessment(Base):
    """One assessment as recorded: its inputs, the grades computed, and where they came from."""

    __tablename__ = "assessment"
    __table_args__ = (Index("ix_assessment_case_time", "case_id", "assessed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    assessed_at: Mapped[datetime]
    entered_by: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))
    inputs: Mapped[dict[str, Any]]  # design §4 fields, as validated (never the note)
    note: Mapped[str | None] = mapped_column(Text)  # free text: stored and shown, never logged
    stated: Mapped[dict[str, Any] | None]
    crs_grade: Mapped[int | None]
    crs_low: Mapped[int | None]
    crs_high: Mapped[int | None]
    crs_status: Mapped[str] = mapped_column(String(16))
    icans_grade: Mapped[int | None]
    icans_low: Mapped[int | None]
    icans_high: Mapped[int | None]
    icans_status: Mapped[str] = mapped_column(String(16))
    icans_tool: Mapped[str | None] = mapped_column(String(8))
    result: Mapped[dict[str, Any]]  # the full graded result (drivers, warnings), design §4 JSON
    engine_version: Mapped[str] = mapped_column(String(60))
    protocol_id: Mapped[str] = mapped_column(String(64))
    protocol_version: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime]

    case: Mapped[Case] = relationship(back_populates="assessments")


class Dose(Base):
    """A dose given. Stored even when it breaks a limit: it happened; ``flags`` says which (D17)."""

    __tablename__ = "dose"
    __table_args__ = (Index("ix_dose_case_time", "case_id", "given_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    drug: Mapped[str] = mapped_column(String(40))
    dose_mg: Mapped[float] = mapped_column(Float)
    route: Mapped[str | None] = mapped_column(String(4))
    given_at: Mapped[datetime]
    entered_by: Mapped[str] = mapped_column(String(40))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime]


class Lab(Base):
    """One lab result."""

    __tablename__ = "lab"
    __table_args__ = (Index("ix_lab_case_time", "case_id", "taken_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    analyte: Mapped[str] = mapped_column(String(24))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    taken_at: Mapped[datetime]
    entered_by: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime]


OPEN_REMINDER_STATES: Final = ("pending", "sending", "snoozed", "sent", "escalated")
"""A reminder in one of these states still needs the dispatcher (or a resolving assessment)."""
AWAKE_REMINDER_STATES: Final = ("sending", "sent", "escalated", "snoozed")
"""Delivered (or being delivered): such a row next needs the dispatcher at its ``wake_at``."""


def _states_sql(states: tuple[str, ...]) -> str:
    return "state IN ({})".format(", ".join(f"'{state}'" for state in states))


_OPEN_STATE_SQL: Final = _states_sql(OPEN_REMINDER_STATES)
_AWAKE_STATE_SQL: Final = _states_sql(AWAKE_REMINDER_STATES)


class Reminder(Base):
    """A reassessment or review due for a case; the source of truth for reminders (design §8).

    Open reminders by case have a partial index (migration 0006): every recorded assessment
    resolves its case's open ones, and the resolved and cancelled rows, most of a long case's,
    are not in it. A query uses it when it filters with :func:`open_reminder` (the states as
    literals, so the planner can match the index's predicate). Likewise delivered rows by their
    ``wake_at`` (migration 0007, :func:`awake_reminder`): the dispatcher's next wake-up and its
    escalation claims read them in ``wake_at`` order.
    """

    __tablename__ = "reminder"
    __table_args__ = (
        Index("ix_reminder_state_due", "state", "due_at"),
        Index(
            "ix_reminder_open_by_case",
            "case_id",
            postgresql_where=text(_OPEN_STATE_SQL),
            sqlite_where=text(_OPEN_STATE_SQL),
        ),
        Index(
            "ix_reminder_awake_by_wake",
            "wake_at",
            postgresql_where=text(_AWAKE_STATE_SQL),
            sqlite_where=text(_AWAKE_STATE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    kind: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    level: Mapped[int] = mapped_column(Integer, default=0)
    recipient: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    policy_version: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Delivery (migration 0004, reminders.dispatcher): when a non-pending row next needs the
    # dispatcher, first delivery, last escalation, overdue flag, snoozes, acknowledgement.
    # Server defaults only: the record path's one-statement INSERTs need not name them.
    wake_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    overdue: Mapped[bool] = mapped_column(server_default=false())
    snooze_count: Mapped[int] = mapped_column(Integer, server_default="0")
    acknowledged_by: Mapped[str | None] = mapped_column(String(40))
    acknowledged_at: Mapped[datetime | None]


class SchedulerHeartbeat(Base):
    """A process running the reminder scheduler: who, whether it leads, its last beat (§8)."""

    __tablename__ = "scheduler_heartbeat"

    process: Mapped[str] = mapped_column(String(120), primary_key=True)  # "host:pid"
    host: Mapped[str] = mapped_column(String(64))
    pid: Mapped[int] = mapped_column(Integer)
    leader: Mapped[bool]
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime]


class AuditEvent(Base):
    """An append-only audit record, hash-chained to the one before it."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(40))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(40))
    case_code: Mapped[str | None] = mapped_column(String(24))
    object_type: Mapped[str | None] = mapped_column(String(24))
    object_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]]  # structured facts only; never free text
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ProcessedEvent(Base):
    """A Slack event id already handled (deduplication), purged after a day."""

    __tablename__ = "processed_event"

    event_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    processed_at: Mapped[datetime]


class Member(Base):
    """A Slack user's role. Deny by default: no row, no access."""

    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("slack_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slack_user_id: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(60))
    added_by: Mapped[str] = mapped_column(String(40))
    added_at: Mapped[datetime]


def open_reminder() -> ColumnElement[bool]:
    """``reminder.state`` is open: the predicate of ``ix_reminder_open_by_case``, as literals."""
    return Reminder.__table__.c.state.in_(
        [literal_column(f"'{state}'") for state in OPEN_REMINDER_STATES]
    )


def awake_reminder() -> ColumnElement[bool]:
    """``reminder.state`` is awake: the predicate of ``ix_reminder_awake_by_wake``, as literals."""
    return Reminder.__table__.c.state.in_(
        [literal_column(f"'{state}'") for state in AWAKE_REMINDER_STATES]
    )
