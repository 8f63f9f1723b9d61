"""Driver-SQL inserts store what Core's would (``bot.db.driver_sql``: SQLite's record path), and
PostgreSQL's autocommit connection goes back to the pool as it came."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Engine, Table, insert, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from bot.db import models
from bot.db.driver_sql import DriverInsert, autocommit_connection, converter, run_on_driver
from bot.db.engine import make_engine
from bot.db.migrate import upgrade

ASSESSMENTS = cast(Table, models.Assessment.__table__)
REMINDERS = cast(Table, models.Reminder.__table__)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'toxbot.db'}")
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(cast(Table, models.Case.__table__)),
            {
                "code": "CT-AAAA-0001",
                "product": "axi-cel",
                "weight_kg": 70,
                "infused_at": datetime(2026, 11, 1, 8, tzinfo=UTC),
                "created_by": "U0ADMIN001",
                "created_at": datetime(2026, 11, 1, 8, tzinfo=UTC),
            },
        )
    yield engine
    engine.dispose()


def assessment_row(key: str) -> dict[str, Any]:
    """Every kind of value an assessment row holds: moments in other zones, JSON with text
    beyond ASCII and nested nulls, a None JSON column, a None integer."""
    return {
        "case_id": 1,
        "assessed_at": datetime(2026, 11, 2, 9, 30, 15, 120, tzinfo=timezone(timedelta(hours=2))),
        "entered_by": "U0CLIN0001",
        "source": "slash",
        "inputs": {"temp_c": 39.4, "o2": {"device": "nc", "lpm": 3}, "signs": ["é", None]},
        "note": "febrile, 'quoted'",
        "stated": None,
        "crs_grade": 2,
        "crs_low": None,
        "crs_high": None,
        "crs_status": "graded",
        "icans_grade": None,
        "icans_low": 1,
        "icans_high": 2,
        "icans_status": "range",
        "icans_tool": "ice",
        "result": {"drivers": [{"rule": "R-CRS-4", "why": "39.4 °C"}], "ok": True},
        "engine_version": "1.0",
        "protocol_id": "default",
        "protocol_version": "2026.1",
        "idempotency_key": key,
        "created_at": datetime(2026, 11, 2, 7, 31, tzinfo=UTC),
    }


def stored(engine: Engine, key: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT * FROM assessment WHERE idempotency_key = ?", (key,)
        ).one()
    return {k: v for k, v in row._asdict().items() if k not in {"id", "idempotency_key"}}


def test_a_driver_insert_stores_the_same_text_as_core(sqlite: Engine) -> None:
    with sqlite.begin() as connection:
        connection.execute(insert(ASSESSMENTS), assessment_row("core"))
        row = assessment_row("driver")
        driver = DriverInsert.for_columns(
            ASSESSMENTS, tuple(row), connection.dialect, returning="id"
        )
        new_id = driver.run(connection, row)
    assert new_id == [(2,)]
    assert stored(sqlite, "driver") == stored(sqlite, "core")


def test_a_driver_insert_fails_as_core_does_on_a_duplicate_key(sqlite: Engine) -> None:
    with sqlite.begin() as connection:
        row = assessment_row("same")
        driver = DriverInsert.for_columns(
            ASSESSMENTS, tuple(row), connection.dialect, returning="id"
        )
        driver.run(connection, row)
        with pytest.raises(IntegrityError):  # what record_assessment answers with the first
            driver.run(connection, row)


def test_a_row_must_name_what_core_would_default(sqlite: Engine) -> None:
    columns = ("case_id", "kind", "due_at", "policy_version", "created_at", "updated_at")
    with pytest.raises(ValueError, match="reminder: a row must name state, level, attempts"):
        DriverInsert.for_columns(REMINDERS, columns, sqlite.dialect)


def test_a_moment_is_converted_as_core_converts_it(sqlite: Engine) -> None:
    to_text = converter(REMINDERS, "updated_at", sqlite.dialect)
    moment = datetime(2026, 11, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert to_text(moment) == "2026-11-02 14:30:00.000000"
    with pytest.raises(ValueError, match="naive datetime"):
        to_text(datetime(2026, 11, 2, 9, 30))


# --- PostgreSQL: the record's autocommit connection ------------------------------------------


@pytest.fixture
def postgres(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)  # one connection, reused
    yield engine
    engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_statement_on_the_autocommit_connection_is_committed_by_itself(
    postgres: Engine,
) -> None:
    table = f"probe_{uuid.uuid4().hex[:8]}"
    outsider = make_engine(postgres.url.render_as_string(hide_password=False), poolclass=NullPool)
    try:
        with autocommit_connection(postgres) as connection:
            run_on_driver(connection, f"CREATE TABLE {table} (n int)")
            run_on_driver(connection, f"INSERT INTO {table} VALUES (1)")
            with outsider.connect() as other:  # seen from outside before the block ends
                assert other.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1
    finally:
        with outsider.begin() as other:
            other.execute(text(f"DROP TABLE IF EXISTS {table}"))
        outsider.dispose()


def test_the_connection_goes_back_to_the_pool_out_of_autocommit(postgres: Engine) -> None:
    with autocommit_connection(postgres) as connection:
        driver: Any = connection.connection.driver_connection  # psycopg's own connection
        assert driver.autocommit
    with postgres.connect() as later:  # the same pooled connection, as sessions use it
        assert driver.autocommit is False
        assert later.connection.driver_connection is driver
        later.execute(text("CREATE TEMP TABLE IF NOT EXISTS undone (n int)"))
        later.commit()
        later.execute(text("INSERT INTO undone VALUES (1)"))
        later.rollback()  # in a transaction again: a rollback takes the insert back
        assert later.execute(text("SELECT count(*) FROM undone")).scalar_one() == 0


def test_a_connection_the_server_dropped_meanwhile_is_not_returned_to_the_pool(
    postgres: Engine,
) -> None:
    first = _backend_pid(postgres)
    outsider = make_engine(postgres.url.render_as_string(hide_password=False), poolclass=NullPool)
    with autocommit_connection(postgres) as connection:
        with outsider.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        with pytest.raises(OperationalError):
            run_on_driver(connection, "SELECT 1")
    outsider.dispose()
    assert _backend_pid(postgres) != first  # a fresh connection, not the dead one
