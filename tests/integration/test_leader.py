"""Scheduler leadership: one process at a time, handed over when the holder goes.

SQLite: a file lock next to the database, refused to a second holder (another process too) and
released by the kernel when the holder dies. PostgreSQL: an advisory lock on a dedicated
connection, refused to a second connection; terminating the holder's session loses it there
and hands it to the next to ask.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.db.engine import make_engine
from reminders.leader import (
    LOCK_SUFFIX,
    FileLeadership,
    PostgresLeadership,
    SoleLeadership,
    leadership_for,
)

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_file_lock_is_refused_until_the_first_is_released(tmp_path: Path) -> None:
    path = tmp_path / f"toxbot.db{LOCK_SUFFIX}"
    first, second = FileLeadership(path), FileLeadership(path)

    assert first.acquire()
    assert first.acquire()  # asking again while holding: still the leader
    assert not second.acquire()
    assert first.still_leader()
    assert not second.still_leader()

    first.release()
    assert not first.still_leader()
    assert second.acquire()
    second.release()


def test_the_file_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    """Another process holds it: refused; ``kill -9`` it and the lock is free at once."""
    path = tmp_path / f"toxbot.db{LOCK_SUFFIX}"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        ours = FileLeadership(path)
        assert not ours.acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=5)
        assert ours.acquire()
        ours.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_sqlite_file_is_led_by_a_lock_file_next_to_it(tmp_path: Path) -> None:
    sqlite = make_engine(f"sqlite:///{tmp_path / 'var' / 'toxbot.db'}")
    memory = make_engine("sqlite://")
    try:
        file_lock = leadership_for(sqlite)
        assert isinstance(file_lock, FileLeadership)
        assert file_lock.acquire()
        assert (tmp_path / "var" / f"toxbot.db{LOCK_SUFFIX}").exists()
        file_lock.release()
        assert isinstance(leadership_for(memory), SoleLeadership)
    finally:
        sqlite.dispose()
        memory.dispose()


def test_postgresql_is_led_by_an_advisory_lock(postgres_url: str) -> None:
    postgres = make_engine(postgres_url)
    advisory = leadership_for(postgres)
    try:
        assert isinstance(advisory, PostgresLeadership)
        assert advisory.acquire()
        assert advisory.still_leader()
    finally:
        advisory.release()
        postgres.dispose()


@pytest.fixture
def admin(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def contenders(postgres_url: str) -> Iterator[tuple[PostgresLeadership, PostgresLeadership]]:
    key = 7_000_000_000 + os.getpid()  # this test's own lock: parallel runs never meet
    first, second = (
        PostgresLeadership(postgres_url, key=key),
        PostgresLeadership(postgres_url, key=key),
    )
    yield first, second
    first.dispose()
    second.dispose()


def test_a_second_connection_is_refused_the_advisory_lock(
    contenders: tuple[PostgresLeadership, PostgresLeadership],
) -> None:
    first, second = contenders

    assert first.acquire()
    assert first.still_leader()
    assert not second.acquire()
    assert not second.still_leader()

    first.release()
    assert not first.still_leader()
    assert second.acquire()


def test_the_lock_is_held_on_a_connection_outside_the_pool(
    contenders: tuple[PostgresLeadership, PostgresLeadership], admin: Engine
) -> None:
    """The holder's session shows the lock in pg_locks; the app's pool plays no part."""
    first, _ = contenders
    assert first.acquire()
    backend = first.backend_pid()
    with admin.connect() as connection:
        holders = connection.scalars(
            text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
        ).all()
    assert backend in holders


def test_killing_the_holders_connection_hands_leadership_over(
    contenders: tuple[PostgresLeadership, PostgresLeadership], admin: Engine
) -> None:
    first, second = contenders
    assert first.acquire()
    assert not second.acquire()

    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.backend_pid()})
    started = time.monotonic()
    assert not first.still_leader()  # the dead connection: lost, noticed on the first check
    assert time.monotonic() - started < 1
    assert second.acquire()
    assert second.still_leader()


def test_an_unreachable_server_is_not_leadership() -> None:
    nowhere = PostgresLeadership("postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        assert not nowhere.acquire()
        assert not nowhere.still_leader()
    finally:
        nowhere.dispose()
