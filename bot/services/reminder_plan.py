"""The reminders an assessment implies (clinical reference §0.1, D16), written with it.

A new assessment resolves the case's open reassessment reminders and schedules the next ones from
the cadence the guidance engine computed; a refractory flag adds the clinician re-reviews. The
dispatcher that delivers them comes with the reminders issue; the rows are the truth (design §8).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from bot.db import models
from bot.services.cases import LockedCase
from grading.guidance_types import Advice

POLICY_VERSION: Final = "cadence-2026.1"
REASSESS_VITALS: Final = "reassess_vitals"
REASSESS_NEURO: Final = "reassess_neuro"
REFRACTORY_REVIEW: Final = "refractory_review"


_REMINDERS: Final = cast(Table, models.Reminder.__table__)
REASSESSMENT_KINDS: Final = (REASSESS_VITALS, REASSESS_NEURO)
"""The kinds a new assessment resolves (a refractory review waits for its clinician)."""
# Built once: the hot path executes them with parameters and never compiles them again.
RESOLVE: Final = (
    update(_REMINDERS)
    .where(
        _REMINDERS.c.case_id == bindparam("case"),
        _REMINDERS.c.kind.in_(REASSESSMENT_KINDS),
        models.open_reminder(),
    )
    .values(state="resolved", updated_at=bindparam("at"), version=_REMINDERS.c.version + 1)
)
"""Resolve a case's open reassessments; parameters ``case`` (its id) and ``at``."""
_OPEN_REVIEWS: Final = select(_REMINDERS.c.id).where(
    _REMINDERS.c.case_id == bindparam("case"),
    _REMINDERS.c.kind == REFRACTORY_REVIEW,
    models.open_reminder(),
)
SCHEDULED_COLUMNS: Final = (
    "case_id",
    "kind",
    "due_at",
    "state",
    "level",
    "recipient",
    "attempts",
    "version",
    "policy_version",
    "created_at",
    "updated_at",
)
"""The columns of a row :func:`next_reminders` builds; the delivery columns start empty."""
INSERT: Final = insert(_REMINDERS)
"""Insert reminder rows as :func:`next_reminders` builds them."""


def plan_reminders(
    session: Session, case: LockedCase, advice: Advice, *, at: datetime
) -> list[dict[str, Any]]:
    """Resolve the open reassessments of ``case`` and add the next ones; return those added."""
    connection = session.connection()
    rows = next_reminders(connection, case, advice, at=at)
    connection.execute(RESOLVE, {"case": case.id, "at": at})
    if rows:
        connection.execute(INSERT, rows)
    return rows


def next_reminders(
    connection: Connection | None, case: LockedCase, advice: Advice, *, at: datetime
) -> list[dict[str, Any]]:
    """The reminder rows ``advice`` schedules (not written): the next vitals/CRS check and neuro
    screen for the case's nurse, and the clinician re-reviews of a new refractory flag.

    ``connection`` None: the re-reviews are included whenever the advice has them, for a write
    that leaves them out itself while the last flag's are still open (PostgreSQL's one
    statement, :mod:`bot.services.record_writes`), one round trip fewer."""
    upcoming = advice.next_reassessment
    due: list[tuple[str, datetime, str | None]] = []
    nurse = case.nurses[0] if case.nurses else None
    if upcoming.vitals_at is not None:
        due.append((REASSESS_VITALS, upcoming.vitals_at, nurse))
    if upcoming.neuro_at is not None:
        due.append((REASSESS_NEURO, upcoming.neuro_at, nurse))
    # One flag, one set of reviews (D16): none while the last flag's are still open.
    if upcoming.reviews_at and (
        connection is None or connection.execute(_OPEN_REVIEWS, {"case": case.id}).first() is None
    ):
        due.extend((REFRACTORY_REVIEW, moment, None) for moment in upcoming.reviews_at)
    return [
        {
            "case_id": case.id,
            "kind": kind,
            "due_at": moment,
            "state": "pending",
            "level": 0,
            "recipient": recipient,
            "attempts": 0,
            "version": 1,
            "policy_version": POLICY_VERSION,
            "created_at": at,
            "updated_at": at,
        }
        for kind, moment, recipient in due
    ]
