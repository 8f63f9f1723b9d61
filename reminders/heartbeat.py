"""The scheduler's heartbeat: one row per process, rewritten every sweep (design §8).

The row says which process (host and pid) runs a scheduler, whether it leads, and when it last
beat, so an operator can see who dispatches reminders and that it is alive. Every start is a new
row (a new pid), so the leader deletes the rows of processes silent for :data:`KEPT_FOR`: the
table holds the processes of the last week, not of every restart there ever was.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import SchedulerHeartbeat

KEPT_FOR: Final = timedelta(days=7)  # a silent process's row is deleted after this long


@dataclass(frozen=True, slots=True)
class ProcessId:
    """This process as the heartbeat table names it."""

    started_at: datetime
    host: str = field(default_factory=lambda: socket.gethostname()[:64])
    pid: int = field(default_factory=os.getpid)

    @property
    def key(self) -> str:
        """``host:pid``, the row's key."""
        return f"{self.host}:{self.pid}"[:120]


def beat(
    sessions: sessionmaker[Session], process: ProcessId, *, leader: bool, at: datetime
) -> None:
    """Write this process's row: its leader flag and ``at`` as the last beat.

    The leader also clears the flag on every other row: leadership is exclusive, so another
    row still saying "leader" is that of a process that died leading (its last beat says when).
    And it deletes the rows whose last beat is older than :data:`KEPT_FOR`.
    """
    row = SchedulerHeartbeat
    with sessions.begin() as session:
        if leader:
            session.execute(
                update(row).where(row.process != process.key, row.leader).values(leader=False)
            )
            session.execute(delete(row).where(row.beat_at < at - KEPT_FOR))
        changed = session.execute(
            update(row).where(row.process == process.key).values(leader=leader, beat_at=at)
        )
        if getattr(changed, "rowcount", 0) == 0:
            session.execute(
                insert(row).values(
                    process=process.key,
                    host=process.host,
                    pid=process.pid,
                    leader=leader,
                    started_at=process.started_at,
                    beat_at=at,
                )
            )


def beats(sessions: sessionmaker[Session]) -> list[SchedulerHeartbeat]:
    """Every process's row, the newest beat first."""
    with sessions() as session:
        rows = session.query(SchedulerHeartbeat).order_by(SchedulerHeartbeat.beat_at.desc())
        return list(rows)
