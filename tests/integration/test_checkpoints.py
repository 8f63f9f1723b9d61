"""The serving process checkpoints SQLite's WAL from a thread (``bot.db.checkpoints``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import sessionmaker

from bot.app import start_wal_checkpoints
from bot.db.checkpoints import AUTOCHECKPOINT_PAGES, WalCheckpoints
from bot.db.engine import make_engine
from bot.db.migrate import upgrade
from bot.protocol_files import load_protocol
from bot.services.api import Services
from tests.integration.conftest import FakeClock


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not in time")
        time.sleep(0.01)


def write_in_turns(engine: Engine, turns: int = 20) -> None:
    """Records' worth of writes, a transaction at a time with a pause between, as requests."""
    for turn in range(turns):
        with engine.begin() as connection:
            for n in range(20):
                connection.execute(
                    text("INSERT INTO processed_event (event_id, processed_at) VALUES (:e, :at)"),
                    {"e": f"event:{turn}:{n}:" + "x" * 80, "at": "2026-12-01 08:00:00.000000"},
                )
        time.sleep(0.03)


def log_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_thread_checkpoints_so_the_log_is_reused_and_commits_wait_far_longer(
    tmp_path: Path,
) -> None:
    """Against the same writes with only the raised threshold: there the log grows with every
    transaction; with the thread checkpointing, each new transaction starts it over."""
    alone, threaded = tmp_path / "alone.db", tmp_path / "threaded.db"
    control = make_engine(f"sqlite:///{alone}")
    upgrade(control)
    event.listen(
        control,
        "connect",
        lambda dbapi, _: dbapi.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}"),
    )
    control.dispose()
    engine = make_engine(f"sqlite:///{threaded}")
    upgrade(engine)
    checkpoints = WalCheckpoints(engine, every_s=0.01).start()
    try:
        with engine.connect() as connection:
            threshold = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert threshold == AUTOCHECKPOINT_PAGES  # a commit checkpoints only far past the default
        write_in_turns(control)
        write_in_turns(engine)
        wait_for(lambda: checkpoints.runs >= 2)
        assert log_bytes(threaded) * 4 < log_bytes(alone)
    finally:
        checkpoints.stop()
        engine.dispose()
        control.dispose()


def test_only_a_sqlite_file_gets_the_thread(tmp_path: Path) -> None:
    def services_on(url: str) -> Services:
        engine = make_engine(url)
        return Services(
            sessions=sessionmaker(engine), clock=FakeClock(), protocol=load_protocol(environ={})
        )

    assert start_wal_checkpoints(services_on("sqlite://")) is None
    assert start_wal_checkpoints(services_on("postgresql+psycopg://toxbot@db/toxbot")) is None
    on_file = services_on(f"sqlite:///{tmp_path / 'toxbot.db'}")
    checkpoints = start_wal_checkpoints(on_file)
    assert isinstance(checkpoints, WalCheckpoints)
    checkpoints.stop()
    with pytest.raises(ValueError, match="SQLite database file"):
        WalCheckpoints(make_engine("sqlite://"))
