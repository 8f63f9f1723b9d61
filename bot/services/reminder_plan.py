"""The reminders an assessment implies (clinical reference §0.1, D16), written with it.

A new assessment resolves the case's open reassessment reminders and schedules the next ones from
the cadence the guidance engine computed; a refractory flag adds the clinician re-reviews. The
dispatcher that delivers them comes with the reminders issue; the rows are the truth (design §8).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.db import models
from grading.guidance_types import Advice

POLICY_VERSION: Final = "cadence-2026.1"
REASSESS_VITALS: Final = "reassess_vitals"
REASSESS_NEURO: Final = "reassess_neuro"
REFRACTORY_REVIEW: Final = "refractory_review"
OPEN: Final = ("pending", "snoozed", "sent", "escalated")


def plan_reminders(
    session: Session, case: models.Case, advice: Advice, *, at: datetime
) -> list[dict[str, Any]]:
    """Resolve the open reassessments of ``case`` and add the next ones; return those added."""
    session.execute(
        update(models.Reminder)
        .where(
            models.Reminder.case_id == case.id,
            models.Reminder.kind.in_((REASSESS_VITALS, REASSESS_NEURO)),
            models.Reminder.state.in_(OPEN),
        )
        .values(state="resolved", updated_at=at, version=models.Reminder.version + 1)
        .execution_options(synchronize_session=False)  # no loaded reminders to keep in step
    )
    upcoming = advice.next_reassessment
    due: list[tuple[str, datetime, str | None]] = []
    nurse = case.nurses[0] if case.nurses else None
    if upcoming.vitals_at is not None:
        due.append((REASSESS_VITALS, upcoming.vitals_at, nurse))
    if upcoming.neuro_at is not None:
        due.append((REASSESS_NEURO, upcoming.neuro_at, nurse))
    if upcoming.reviews_at:
        already = set(
            session.scalars(
                select(models.Reminder.due_at).where(
                    models.Reminder.case_id == case.id,
                    models.Reminder.kind == REFRACTORY_REVIEW,
                    models.Reminder.state.in_(OPEN),
                )
            )
        )
        if not already:  # one flag, one set of reviews (D16)
            due.extend((REFRACTORY_REVIEW, moment, None) for moment in upcoming.reviews_at)
    rows = [
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
    if rows:
        session.connection().execute(insert(models.Reminder), rows)
    return rows
