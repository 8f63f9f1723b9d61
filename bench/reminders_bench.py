"""Benchmarks of the time face: reminders delivered by the real scheduler and dispatcher (issue 6).

Each measurement runs in a fresh process (so its peak memory is its own), which seeds a
throwaway database, starts the reminders exactly as ``toxbot serve`` does
(``reminders.runtime.start_reminders``: scheduler, leadership, dispatcher; the default 30 s
sweep) with a fake notifier that notes when each reminder arrives, and waits for all of them:

* **spread**: 10,000 pending reminders whose due times cover an hour of ward time, compressed
  into 60 s of real time (the real clock runs; only the spacing is shortened, 60x busier than
  a real hour). Lateness is arrival minus due time: p50 and p99 (target p99 <= 1 s).
* **burst**: 1,000 reminders due at the same moment: the time until the last arrives (target
  <= 60 s).
* the process's peak memory (``ru_maxrss``) during the spread run, with what the reminders
  added above the process's size before they were seeded.

On SQLite and on PostgreSQL (a throwaway database, as ``bench.database_bench`` makes it; when
it cannot be reached its rows say so).
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any, Final

from sqlalchemy import Engine, insert

from bench.grading_bench import Row

P99_TARGET_S: Final = 1.0
BURST_TARGET_S: Final = 60.0
LEAD_S: Final = 2.0  # the first due time, after the scheduler has started
CASES: Final = 100
NURSE: Final = "U0BENCH01"


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many reminders, and over how many real seconds the spread run's hour passes."""

    spread: int
    spread_s: float
    burst: int


FULL: Final = Sizes(spread=10_000, spread_s=60.0, burst=1_000)
QUICK: Final = Sizes(spread=300, spread_s=3.0, burst=100)


@dataclass(frozen=True, slots=True)
class Run:
    """What one run measured: lateness of each reminder (s), the total, and memory (KiB)."""

    lateness_s: list[float]
    delivered: int
    expected: int
    peak_kib: int
    before_kib: int
    error: str | None = None

    @property
    def complete(self) -> bool:
        """Every reminder arrived."""
        return self.error is None and self.delivered == self.expected


class Arrivals:
    """A notifier that notes the first arrival time of each reminder (real time)."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self._lock = threading.Lock()

    def deliver(self, message: Any) -> Any:
        from reminders.notifier import Delivery

        moment = time.time()
        with self._lock:
            self.at.setdefault(message.reminder_id, moment)
        return Delivery.sent()

    def count(self) -> int:
        with self._lock:
            return len(self.at)


def _seed(engine: Engine, due: list[datetime]) -> dict[int, datetime]:
    """``CASES`` cases and one reminder per due time, spread over them; id -> due time."""
    from bot.db import models
    from bot.db.engine import session_factory

    now = datetime.now(UTC)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        cases = [
            models.Case(
                code=f"TXB-B{i:03d}",
                product="axi-cel",
                infused_at=now - timedelta(days=2),
                weight_kg=70.0,
                nurses=[NURSE],
                created_by="bench",
                created_at=now,
            )
            for i in range(CASES)
        ]
        session.add_all(cases)
        session.flush()
        rows = [
            {
                "case_id": cases[i % CASES].id,
                "kind": "reassess_vitals",
                "due_at": moment,
                "state": "pending",
                "level": 0,
                "recipient": NURSE,
                "attempts": 0,
                "version": 1,
                "policy_version": "bench",
                "created_at": now,
                "updated_at": now,
            }
            for i, moment in enumerate(due)
        ]
        session.execute(insert(models.Reminder), rows)
    with sessions() as session:
        from sqlalchemy import select

        found = session.execute(select(models.Reminder.id, models.Reminder.due_at)).tuples()
        return dict(found.all())


def _run(url: str, offsets_s: list[float], timeout_s: float, out: Connection) -> None:
    """In a fresh process: seed, start the reminders, wait for every arrival, report a Run."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        from bot.clock import SystemClock
        from bot.db.engine import make_engine, session_factory
        from bot.protocol_files import load_protocol
        from reminders.contacts import settings_contacts
        from reminders.runtime import start_reminders

        engine = make_engine(url)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # imports, engine
        start = datetime.now(UTC) + timedelta(seconds=LEAD_S)
        due = _seed(engine, [start + timedelta(seconds=s) for s in offsets_s])
        arrivals = Arrivals()
        running = start_reminders(
            sessions=session_factory(engine),
            protocol=load_protocol(environ={}),
            clock=SystemClock(),
            notifier=arrivals,
            who=settings_contacts({}, None),
        )
        deadline = time.monotonic() + LEAD_S + max(offsets_s, default=0) + timeout_s
        while arrivals.count() < len(due) and time.monotonic() < deadline:
            time.sleep(0.05)
        running.stop()
        engine.dispose()
        lateness = [arrivals.at[rid] - due[rid].timestamp() for rid in arrivals.at]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out.send(Run(lateness, len(arrivals.at), len(due), peak, before))
    except Exception as exc:  # reported in the table, not raised: the other rows still print
        out.send(Run([], 0, len(offsets_s), 0, before, _short(exc)))


def measure(url: str, offsets_s: list[float], timeout_s: float) -> Run:
    """Run :func:`_run` in a fresh (spawned) process and return what it measured."""
    context = mp.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_run, args=(url, offsets_s, timeout_s, send))
    process.start()
    limit = LEAD_S + max(offsets_s, default=0) + timeout_s + 60
    run: Run = (
        receive.recv()
        if receive.poll(limit)
        else Run([], 0, len(offsets_s), 0, 0, "no answer from the bench process")
    )
    process.join(timeout=30)
    if process.is_alive():
        process.kill()
    return run


def _short(exc: BaseException) -> str:
    """An error for a table cell: its type and the first line of its message."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:80]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def spread_rows(engine_name: str, url: str, sizes: Sizes) -> list[Row]:
    """Lateness p50/p99 of reminders spread over a compressed hour, and the peak memory."""
    step = sizes.spread_s / sizes.spread
    run = measure(url, [i * step for i in range(sizes.spread)], timeout_s=30)
    what = f"reminder lateness, {sizes.spread:,} over 1 h in {sizes.spread_s:.0f} s, {engine_name}"
    if not run.lateness_s:
        return [Row(what, f"not measured: {run.error}", f"p99 <= {P99_TARGET_S:.0f} s", False, 0)]
    p50 = statistics.median(run.lateness_s)
    p99 = _percentile(run.lateness_s, 0.99)
    delivered = f"{run.delivered:,}/{run.expected:,} delivered"
    return [
        Row(
            what,
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max "
            f"{max(run.lateness_s) * 1000:.0f} ms ({delivered})",
            f"p99 <= {P99_TARGET_S:.0f} s, all delivered",
            p99 <= P99_TARGET_S and run.complete,
            p99,
        ),
        Row(
            f"  peak memory of that process, {engine_name}",
            f"{run.peak_kib / 1024:.0f} MiB peak RSS ({run.before_kib / 1024:.0f} MiB of it "
            "before the reminders were seeded)",
            "-",
            None,
            run.peak_kib / 1024,
        ),
    ]


def burst_row(engine_name: str, url: str, sizes: Sizes) -> Row:
    """The time until the last of ``sizes.burst`` reminders due at one moment arrives."""
    run = measure(url, [0.0] * sizes.burst, timeout_s=BURST_TARGET_S + 10)
    what = f"{sizes.burst:,} reminders due at once: last delivered after, {engine_name}"
    if not run.lateness_s:
        return Row(what, f"not measured: {run.error}", f"<= {BURST_TARGET_S:.0f} s", False, 0)
    last = max(run.lateness_s)
    return Row(
        what,
        f"{last:.2f} s, p50 {statistics.median(run.lateness_s):.2f} s "
        f"({run.delivered:,}/{run.expected:,} delivered)",
        f"<= {BURST_TARGET_S:.0f} s, all delivered",
        last <= BURST_TARGET_S and run.complete,
        last,
    )


def _engines() -> list[tuple[str, Callable[[], AbstractContextManager[Engine]]]]:
    from bench.database_bench import postgres_engine, sqlite_engine

    return [("SQLite", sqlite_engine), ("PostgreSQL", postgres_engine)]


def _url_of(make: Callable[[], AbstractContextManager[Engine]]) -> Iterator[str]:
    with make() as engine:
        url = engine.url.render_as_string(hide_password=False)
        engine.dispose()
        yield url


def reminder_rows(quick: bool) -> list[Row]:
    """Every reminder figure; quick: SQLite only, small counts."""
    sizes = QUICK if quick else FULL
    engines = _engines()[:1] if quick else _engines()
    rows: list[Row] = []
    for name, make in engines:
        try:  # a fresh database for each run
            for url in _url_of(make):
                rows.extend(spread_rows(name, url, sizes))
            for url in _url_of(make):
                rows.append(burst_row(name, url, sizes))
        except Exception as exc:  # PostgreSQL unreachable: say so in the table
            rows.append(Row(f"reminders, {name}", f"not measured: {_short(exc)}", "-", False, 0))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the reminders table (``--quick`` for a smoke run); other arguments are ignored."""
    from bench.grading_bench import print_section

    return print_section(
        "Reminders: the real scheduler and dispatcher, real clock, a fake notifier; each run "
        "in its own process",
        lambda quick: reminder_rows(quick=quick),
        argv,
    )


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
