"""Which process dispatches reminders: one leader among every process running the scheduler.

Several ``toxbot serve`` processes may run against one database; only one may deliver reminders,
or nurses would get each one twice (design §8).

* **PostgreSQL**: a session advisory lock (``pg_try_advisory_lock``) held on a connection of its
  own, outside the application's pool, so no request ever borrows or returns it. PostgreSQL
  releases the lock the moment that session ends (the process dies, the connection drops, an
  operator terminates the backend), and another process's next attempt takes it.
  ``still_leader`` asks the server whether this session still holds it; any failure, a dead
  connection included, means leadership is lost.
* **SQLite**: one process on the machine holds an exclusive ``flock`` on a file next to the
  database; the kernel releases it when the process dies.

Example::

    leadership = leadership_for(engine)
    if leadership.acquire():
        ...  # dispatch, checking leadership.still_leader() every few seconds
    leadership.release()
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Any, Final, Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

# The scheduler's advisory lock; distinct from the audit chain's (bot.services.audit).
SCHEDULER_LOCK_KEY: Final = 7_461_237_502
# The dedicated connection must not hang on a dead network: libpq gives up on a silent peer
# within about 5 s (keepalives, TCP_USER_TIMEOUT), and every statement within 5 s.
_LIBPQ_OPTIONS: Final[dict[str, Any]] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 2,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,
    "options": "-c statement_timeout=5000 -c idle_in_transaction_session_timeout=0",
}
LOCK_SUFFIX: Final = ".scheduler.lock"
log = logging.getLogger("toxbot.reminders.leader")


class Leadership(Protocol):
    """The right to dispatch reminders, held by at most one process at a time."""

    def acquire(self) -> bool:
        """Try to become the leader without waiting; True when this process now leads."""
        ...

    def still_leader(self) -> bool:
        """Whether this process still leads (False once lost, until ``acquire`` succeeds)."""
        ...

    def release(self) -> None:
        """Give leadership up (a no-op when not held)."""
        ...


class PostgresLeadership:
    """Leadership as a session advisory lock on a dedicated PostgreSQL connection."""

    def __init__(self, url: str | URL, *, key: int = SCHEDULER_LOCK_KEY) -> None:
        self._engine = create_engine(url, poolclass=NullPool, connect_args=dict(_LIBPQ_OPTIONS))
        self._key = key
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """Connect if needed and try the lock; a failure to connect is "not leader"."""
        with self._lock:
            if self._connection is not None and self._holds():
                return True
            self._drop()
            try:
                self._connection = self._engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                )
                taken = self._connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
                )
            except Exception as exc:  # unreachable server, refused login: simply not the leader
                log.warning("scheduler leadership: PostgreSQL unreachable (%s)", type(exc).__name__)
                taken = False
            if not taken:
                self._drop()
            return bool(taken)

    def still_leader(self) -> bool:
        """Ask the server whether this session holds the lock; a dead connection is a no."""
        with self._lock:
            if self._connection is None:
                return False
            if self._holds():
                return True
            log.warning("scheduler leadership lost: the lock's connection is gone")
            self._drop()
            return False

    def release(self) -> None:
        """Unlock and close the dedicated connection."""
        with self._lock:
            if self._connection is not None:
                try:
                    self._connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                    )
                except Exception as exc:  # closing the session releases it anyway
                    log.info("scheduler leadership: unlock failed (%s)", type(exc).__name__)
            self._drop()

    def backend_pid(self) -> int | None:
        """The server process id of the lock's session (for tests and operators)."""
        with self._lock:
            if self._connection is None:
                return None
            return int(self._connection.scalar(text("SELECT pg_backend_pid()")) or 0)

    def dispose(self) -> None:
        """Release, and free the engine."""
        self.release()
        self._engine.dispose()

    def _holds(self) -> bool:
        assert self._connection is not None
        # A session-level advisory lock on a bigint shows in pg_locks split in two 32-bit halves.
        query = text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = pg_backend_pid() AND objsubid = 1"
            " AND classid::bigint = :high AND objid::bigint = :low)"
        )
        try:
            held = self._connection.scalar(
                query, {"high": self._key >> 32, "low": self._key & 0xFFFFFFFF}
            )
        except Exception as exc:  # a dead connection: the server has dropped the lock
            log.info("scheduler leadership check failed (%s)", type(exc).__name__)
            return False
        return bool(held)

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception as exc:  # already dead; nothing to give back
                log.debug("closing the leadership connection: %s", type(exc).__name__)
            self._connection = None


class FileLeadership:
    """Leadership as an exclusive ``flock`` on a file (SQLite: one process on one machine)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """Take the file lock without waiting."""
        with self._lock:
            if self._fd is not None:
                return True
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return True

    def still_leader(self) -> bool:
        """Held until released: the kernel takes a flock away only with the process."""
        with self._lock:
            return self._fd is not None

    def release(self) -> None:
        """Unlock and close the file."""
        with self._lock:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None


class SoleLeadership:
    """Always the leader: an in-memory SQLite database no other process can open."""

    def __init__(self) -> None:
        self._held = False

    def acquire(self) -> bool:
        """Always succeeds."""
        self._held = True
        return True

    def still_leader(self) -> bool:
        """True once acquired, until released."""
        return self._held

    def release(self) -> None:
        """Give it up."""
        self._held = False


def leadership_for(engine: Engine) -> Leadership:
    """The leadership that fits the engine's database: advisory lock, file lock, or sole."""
    url = engine.url
    if engine.dialect.name == "postgresql":
        return PostgresLeadership(url)
    database = make_url(url).database
    if not database or database == ":memory:":
        return SoleLeadership()
    return FileLeadership(Path(database).resolve().with_name(Path(database).name + LOCK_SUFFIX))
