"""Slack deliveries already handled: a retried or repeated delivery is recognised, not redone.

Slack retries an event it thinks was lost (``X-Slack-Retry-Num``) and a user can press a button
twice; each carries a stable key (an ``event_id``, an ``action_ts``, a thread-post key). The
first call to :func:`first_delivery` with a key inserts it into ``processed_event`` and answers
True; every later one answers False. The insert is ``ON CONFLICT DO NOTHING``, so two deliveries
racing still give exactly one True. Rows older than a day are purged: Slack stops retrying long
before that.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.db.models import ProcessedEvent

KEEP: Final = timedelta(days=1)


def first_delivery(session: Session, key: str, at: datetime) -> bool:
    """Record ``key`` as handled; True when it had not been seen before."""
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(ProcessedEvent)
        .values(event_id=key, processed_at=at)
        .on_conflict_do_nothing(index_elements=[ProcessedEvent.event_id])
        .returning(ProcessedEvent.event_id)
    )
    return session.execute(statement).first() is not None


def forget_delivery(session: Session, key: str) -> None:
    """Drop ``key``, so a retry of a delivery whose handling failed is handled again."""
    session.execute(delete(ProcessedEvent).where(ProcessedEvent.event_id == key))


def purge_deliveries(session: Session, now: datetime) -> int:
    """Delete keys older than :data:`KEEP`; returns how many went."""
    result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.processed_at < now - KEEP))
    return int(getattr(result, "rowcount", 0) or 0)
