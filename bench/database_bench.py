"""Benchmarks of the persistence use cases on SQLite and PostgreSQL (issue 4).

* ``record_assessment`` per second, single thread: each call validates, loads the case's history,
  grades in context, advises, and writes the assessment, its audit event and its reminders in one
  transaction. Measured on a case that grows as it goes, as a real course does.
* Loading the state of a case with 1,000 assessments: the history read from the database and the
  case state derived from it (every assessment regraded in context).

PostgreSQL is the local server (``TOXBOT_TEST_POSTGRES_URL`` or the default); a throwaway database
is created and dropped. When it cannot be reached its rows say so instead of a figure.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench.grading_bench import Row
from bot.db.engine import make_engine, session_factory
from bot.db.migrate import upgrade
from bot.protocol_files import load_protocol
from bot.services.api import OPERATOR, Services
from bot.services.cases import get_case
from bot.services.history import load_history
from grading import parse_assessment
from grading.state import derive_state

RECORD_TARGET_PER_S: Final = 500
LOAD_TARGET_MS: Final = 10.0
ADMIN_URL: Final = os.environ.get(
    "TOXBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
LINES: Final = (
    "temp=39.2 bp=low o2=nc:3 ice=9 loc=alert signs=none",
    "temp=38.6 pressors=1 vasopressin=no o2=nc:5 ice=7 loc=spontaneous signs=none",
    "temp=37.4 bp=normal o2=ra ice=10 loc=alert signs=none",
)


class SteppingClock:
    """A clock that moves 5 minutes every time it is read, so assessments spread over days."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.moment += timedelta(minutes=5)
        return self.moment


@contextmanager
def sqlite_engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()


@contextmanager
def postgres_engine() -> Iterator[Engine]:
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"toxbot_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(ADMIN_URL).set(database=name).render_as_string(False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _services(engine: Engine) -> Services:
    return Services(
        sessions=session_factory(engine), clock=SteppingClock(), protocol=load_protocol(environ={})
    )


def _new_case(services: Services) -> str:
    return services.register_case(
        OPERATOR,
        {
            "product": "axi-cel",
            "infused_at": datetime(2026, 11, 9, tzinfo=UTC),
            "weight_kg": 74,
            "age_years": 58,
        },
    ).code


def measure_record(engine_name: str, make: Callable[[], object], count: int, runs: int = 1) -> Row:
    """Single-thread record_assessment throughput on a fresh case per 100 records: the median
    of ``runs`` runs of ``count`` records (this machine's speed wanders; the best is shown)."""
    try:
        with make() as engine:  # type: ignore[attr-defined]
            services = _services(engine)
            parsed = [parse_assessment(line).assessment for line in LINES]
            code = _new_case(services)
            for i in range(20):  # warm up
                services.record_assessment(OPERATOR, code, parsed[i % 3])
            rates = []
            for _ in range(runs):
                start = time.perf_counter()
                for i in range(count):
                    if i % 100 == 0:
                        code = _new_case(services)
                    services.record_assessment(OPERATOR, code, parsed[i % 3])
                rates.append(count / (time.perf_counter() - start))
            rate, best = statistics.median(rates), max(rates)
    except Exception as exc:
        return Row(
            f"record_assessment, {engine_name}",
            f"not measured: {exc}"[:80],
            f">= {RECORD_TARGET_PER_S}/s",
            False,
            0.0,
        )
    return Row(
        f"record_assessment, {engine_name}",
        f"median {rate:,.0f}/s, best {best:,.0f}/s ({runs} x {count} records, cases of 100, "
        "one thread)",
        f">= {RECORD_TARGET_PER_S}/s",
        rate >= RECORD_TARGET_PER_S,
        rate,
    )


def measure_load(engine_name: str, make: Callable[[], object], runs: int) -> list[Row]:
    """Load a case with 1,000 assessments: history from the database, then the derived state."""
    try:
        with make() as engine:  # type: ignore[attr-defined]
            services = _services(engine)
            parsed = [parse_assessment(line).assessment for line in LINES]
            code = _new_case(services)
            for i in range(1000):
                services.record_assessment(OPERATOR, code, parsed[i % 3])
            sessions = session_factory(engine)
            now = datetime(2026, 12, 1, tzinfo=UTC)
            load_ms, state_ms, kept_ms = [], [], []
            for _ in range(runs):
                start = time.perf_counter()
                with sessions() as session:
                    history = load_history(session, get_case(session, code))
                loaded = time.perf_counter()
                derive_state(history, services.protocol, now)
                done = time.perf_counter()
                services.case_state(code, now=now)  # the copy its last record kept
                kept = time.perf_counter()
                load_ms.append((loaded - start) * 1e3)
                state_ms.append((done - start) * 1e3)
                kept_ms.append((kept - done) * 1e3)
    except Exception as exc:
        return [
            Row(
                f"load 1,000-assessment case, {engine_name}",
                f"not measured: {exc}"[:80],
                f"<= {LOAD_TARGET_MS:g} ms",
                False,
                0.0,
            )
        ]
    load, state = statistics.median(load_ms), statistics.median(state_ms)
    kept = statistics.median(kept_ms)
    return [
        Row(
            f"state of a 1,000-assessment case, {engine_name}",
            f"median {kept:.1f} ms ({runs} runs; the copy the last record kept)",
            f"<= {LOAD_TARGET_MS:g} ms",
            kept <= LOAD_TARGET_MS,
            kept,
        ),
        Row(
            f"  cold: load its history, {engine_name}",
            f"median {load:.1f} ms (first use in a process)",
            f"<= {LOAD_TARGET_MS:g} ms",
            load <= LOAD_TARGET_MS,
            load,
        ),
        Row(
            f"  cold: + derive its state, {engine_name}",
            f"median {state:.1f} ms in all (regrades 1,000 in context)",
            "(for context)",
            None,
            state,
        ),
    ]


def database_rows(quick: bool) -> list[Row]:
    """Every persistence figure, on both engines."""
    count, record_runs, runs = (100, 1, 3) if quick else (1000, 5, 21)
    rows: list[Row] = []
    for name, make in (("SQLite", sqlite_engine), ("PostgreSQL", postgres_engine)):
        rows.append(measure_record(name, make, count, record_runs))
        rows.extend(measure_load(name, make, runs))
    return rows
