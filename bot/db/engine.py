"""The database engine and sessions: SQLite embedded by default, PostgreSQL in production.

SQLite gets WAL (readers never block the writer), a busy timeout (a second writer waits instead
of failing) and foreign keys on, on every connection. PostgreSQL connections that sat idle are
pinged before use. JSON columns are written and read with orjson. Nothing connects until asked.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 5000
IDLE_BEFORE_PING_S = 2.0  # a pooled connection idle this long is pinged before use


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url``; for a SQLite file, its folder is created and pragmas are set."""
    options = {"json_serializer": json_text, "json_deserializer": orjson.loads, **options}
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, **options)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def json_text(value: Any) -> str:
    """A JSON column's value as text: orjson, several times faster than ``json.dumps`` on the
    rows every record writes (the stored result, its inputs and drivers, the audit detail).

    The same JSON as ``json.dumps`` would store, but for non-ASCII text (written as UTF-8, not
    ``\\u`` escapes: read back the same) and for what ``json.dumps`` cannot write (NaN, which no
    validated value is; times, which no column holds unconverted). Keys that are not strings
    are written as strings, as ``json.dumps`` writes them.
    """
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a pooled connection that has sat idle, so a restarted server costs no failed call.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip on each use case, most
    of them moments after the last. A connection used within :data:`IDLE_BEFORE_PING` is trusted;
    if it has died all the same, the call fails as "not recorded" and the pool is invalidated,
    so the next call connects afresh. Raising ``DisconnectionError`` here makes the pool replace
    the connection and try again.
    """
    idle_since = record.info.get("checked_in_at")
    if idle_since is not None and time.monotonic() - idle_since < IDLE_BEFORE_PING_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:  # any failure of a ping means a dead connection
        raise DisconnectionError(f"stale connection: {type(exc).__name__}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values usable after commit (results are returned to callers)."""
    return sessionmaker(engine, expire_on_commit=False)


def is_postgresql(engine: Engine) -> bool:
    """Whether the engine talks to PostgreSQL (row locks, advisory locks)."""
    return engine.dialect.name == "postgresql"
