"""Where a case's Slack thread is: its channel and root message ts, claimed once.

The first reply posted for a case creates its thread (a root message in the case's channel); the
root's ``ts`` is stored on the case so every later reply goes to the same thread. Two first posts
racing (two assessments at once) must not end up in two threads: the claim is a conditional
UPDATE that only fills an empty thread, and the loser reads and uses the winner's thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db.models import Case
from bot.services.errors import CaseNotFound


@dataclass(frozen=True, slots=True)
class CaseThread:
    """A case's Slack channel and thread root ``ts``; either may be unknown yet (None)."""

    code: str
    channel: str | None
    ts: str | None


def case_thread(session: Session, code: str) -> CaseThread:
    """The case's channel and thread as stored; :class:`CaseNotFound` for an unknown code."""
    row = session.execute(
        select(Case.code, Case.slack_channel, Case.slack_thread_ts).where(Case.code == code)
    ).first()
    if row is None:
        raise CaseNotFound(code)
    return CaseThread(row.code, row.slack_channel, row.slack_thread_ts)


def claim_case_thread(session: Session, code: str, channel: str, ts: str) -> CaseThread:
    """Store ``channel``/``ts`` as the case's thread unless it has one; return the thread in use.

    Conditional on the thread being empty, so of two concurrent first posts exactly one wins and
    both callers get the winner's thread back.
    """
    session.execute(
        update(Case)
        .where(Case.code == code, Case.slack_thread_ts.is_(None))
        .values(slack_channel=channel, slack_thread_ts=ts)
    )
    return case_thread(session, code)
