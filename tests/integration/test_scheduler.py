"""The reminder scheduler: wake-ups at due times, passes only on the leader, the heartbeat.

A small fake dispatcher stands in for ``reminders.dispatcher``: it holds due times, "delivers"
those whose time has come on ``dispatch_due``, and records every call with the clock's time.
The scheduler's own wake-ups run on real time with short intervals; the clock it and the fake
dispatcher read is injected (real time shifted to the test's date), so due times are exact.
Each test takes a second or two.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import make_engine
from reminders.heartbeat import KEPT_FOR, ProcessId, beat, beats
from reminders.leader import FileLeadership, PostgresLeadership, SoleLeadership
from reminders.scheduler import Cadence, ReminderScheduler

# Sweeps too rare to matter in a test: whatever is delivered on time was woken for.
NO_SWEEP = Cadence(sweep_s=600, escalate_s=600, leadership_s=0.1)


@dataclass
class ShiftedClock:
    """Real time, moved to the test's date: it runs, so due times come, at a known moment."""

    start: datetime = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    _offset: timedelta = field(init=False)

    def __post_init__(self) -> None:
        self._offset = self.start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


@dataclass
class FakeDispatcher:
    """Due times in, deliveries (due time, delivered at) out; every call recorded."""

    clock: ShiftedClock
    due: list[datetime] = field(default_factory=list)
    delivered: list[tuple[datetime, datetime]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    fail_next: int = 0
    pass_s: float = 0.0  # how long each dispatch pass takes (a burst of deliveries)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, at: datetime) -> datetime:
        with self._lock:
            self.due.append(at)
        return at

    def dispatch_due(self, now: datetime | None = None) -> int:
        self.calls.append("dispatch")
        time.sleep(self.pass_s)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("case TXB-0001 note: 'secret free text' (must not be logged)")
        moment = now or self.clock.now()
        with self._lock:
            ready = [at for at in self.due if at <= moment]
            self.due = [at for at in self.due if at > moment]
        self.delivered.extend((at, moment) for at in ready)
        return len(ready)

    def escalate(self, now: datetime | None = None) -> int:
        self.calls.append("escalate")
        return 0

    def next_due_at(self) -> datetime | None:
        with self._lock:
            return min(self.due, default=None)

    def reconcile(self) -> int:
        self.calls.append("reconcile")
        return 0


class SwitchedLeadership:
    """Leadership a test takes away: ``still_leader`` answers what the test says."""

    def __init__(self) -> None:
        self.held = True

    def acquire(self) -> bool:
        return self.held

    def still_leader(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def dispatcher(clock: ShiftedClock) -> FakeDispatcher:
    return FakeDispatcher(clock)


@pytest.fixture
def started() -> Iterator[list[ReminderScheduler]]:
    """Schedulers a test starts; all stopped after it, whatever happened."""
    running: list[ReminderScheduler] = []
    yield running
    for scheduler in running:
        scheduler.stop()


def start(running: list[ReminderScheduler], **options: object) -> ReminderScheduler:
    scheduler = ReminderScheduler(**options)  # type: ignore[arg-type]
    scheduler.start()
    running.append(scheduler)
    return scheduler


def lateness(dispatcher: FakeDispatcher) -> list[float]:
    return [(sent - due).total_seconds() for due, sent in dispatcher.delivered]


def test_reminders_due_later_are_delivered_at_their_due_times_without_a_sweep(
    clock: ShiftedClock, dispatcher: FakeDispatcher, started: list[ReminderScheduler]
) -> None:
    """The wake job fires at the first due time, and re-arms itself for the next each time."""
    base = clock.now()
    for ms in (300, 500, 800):
        dispatcher.add(base + timedelta(milliseconds=ms))
    start(
        started, dispatcher=dispatcher, leadership=SoleLeadership(), clock=clock, cadence=NO_SWEEP
    )

    assert wait_for(lambda: len(dispatcher.delivered) == 3)
    assert all(0 <= late < 0.1 for late in lateness(dispatcher)), lateness(dispatcher)
    assert dispatcher.calls[0] == "reconcile"  # start-up handles the overdue first


def test_wake_brings_the_next_wake_up_forward(
    clock: ShiftedClock, dispatcher: FakeDispatcher, started: list[ReminderScheduler]
) -> None:
    """A reminder recorded after start, due before anything else: ``wake(at)`` fires on time."""
    later = dispatcher.add(clock.now() + timedelta(seconds=60))
    scheduler = start(
        started, dispatcher=dispatcher, leadership=SoleLeadership(), clock=clock, cadence=NO_SWEEP
    )
    assert wait_for(lambda: "reconcile" in dispatcher.calls)
    soon = dispatcher.add(clock.now() + timedelta(milliseconds=300))
    scheduler.wake(soon)
    scheduler.wake(later)  # later than what is armed: changes nothing

    assert wait_for(lambda: len(dispatcher.delivered) == 1)
    ((due, sent),) = dispatcher.delivered
    assert due == soon
    assert 0 <= (sent - due).total_seconds() < 0.1


def test_reminders_recorded_during_a_long_pass_queue_one_wake_up_not_one_each(
    clock: ShiftedClock,
    dispatcher: FakeDispatcher,
    started: list[ReminderScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Many reminders recorded while a pass is delivering (a ward's burst): each ``wake`` finds
    a wake-up already waiting and adds none; the one waiting delivers them all when the pass
    ends. One wake run queued per record had APScheduler skip runs past its limit, with a
    warning in the log for nothing lost."""
    scheduler = start(
        started, dispatcher=dispatcher, leadership=SoleLeadership(), clock=clock, cadence=NO_SWEEP
    )
    assert wait_for(lambda: "reconcile" in dispatcher.calls)
    dispatcher.pass_s = 1.0  # far longer than the burst takes to record
    scheduler.wake(dispatcher.add(clock.now()))
    # The reconcile's pass came first; the second is the wake-up's, now delivering.
    assert wait_for(lambda: dispatcher.calls.count("dispatch") == 2)
    burst = [dispatcher.add(clock.now()) for _ in range(20)]
    for due in burst:
        scheduler.wake(due)
        time.sleep(0.005)  # recorded one after another, as requests come

    assert wait_for(lambda: len(dispatcher.delivered) == 21, timeout=5)
    time.sleep(0.4)  # any further wake run would have started by now
    assert sorted(due for due, _ in dispatcher.delivered)[1:] == burst
    assert dispatcher.calls.count("dispatch") == 3  # the reconcile's, the wake-up's, one after
    assert "skipped" not in caplog.text
    assert "maximum number of running instances" not in caplog.text


def test_without_wake_the_sweep_finds_what_was_recorded_elsewhere(
    clock: ShiftedClock, dispatcher: FakeDispatcher, started: list[ReminderScheduler]
) -> None:
    """A reminder written by another process (no ``wake`` here) is delivered by the sweep."""
    start(
        started,
        dispatcher=dispatcher,
        leadership=SoleLeadership(),
        clock=clock,
        cadence=Cadence(sweep_s=0.5, escalate_s=600, leadership_s=0.1),
    )
    assert wait_for(lambda: "reconcile" in dispatcher.calls)
    dispatcher.add(clock.now())  # due now; nothing armed for it

    assert wait_for(lambda: len(dispatcher.delivered) == 1, timeout=2)
    assert lateness(dispatcher)[0] < 0.7


def test_the_escalation_pass_runs_at_its_cadence(
    clock: ShiftedClock, dispatcher: FakeDispatcher, started: list[ReminderScheduler]
) -> None:
    start(
        started,
        dispatcher=dispatcher,
        leadership=SoleLeadership(),
        clock=clock,
        cadence=Cadence(sweep_s=600, escalate_s=0.2, leadership_s=0.1),
    )
    assert wait_for(lambda: dispatcher.calls.count("escalate") >= 3, timeout=2)


def test_a_failing_pass_logs_no_clinical_text_and_the_next_pass_runs(
    clock: ShiftedClock,
    dispatcher: FakeDispatcher,
    started: list[ReminderScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher.fail_next = 1
    due = dispatcher.add(clock.now() + timedelta(milliseconds=200))
    start(
        started,
        dispatcher=dispatcher,
        leadership=SoleLeadership(),
        clock=clock,
        cadence=Cadence(sweep_s=0.3, escalate_s=600, leadership_s=0.1),
    )

    assert wait_for(lambda: len(dispatcher.delivered) == 1)
    assert dispatcher.delivered[0][0] == due
    assert "RuntimeError" in caplog.text
    assert "secret" not in caplog.text
    assert "TXB-0001" not in caplog.text


def test_a_follower_never_dispatches_and_takes_over_when_the_leader_stops(
    clock: ShiftedClock, tmp_path: Path, started: list[ReminderScheduler]
) -> None:
    """Two schedulers on one SQLite file lock: one leads; stopped, the other takes over."""
    lock = tmp_path / "toxbot.db.scheduler.lock"
    first, second = FakeDispatcher(clock), FakeDispatcher(clock)
    leader = start(
        started, dispatcher=first, leadership=FileLeadership(lock), clock=clock, cadence=NO_SWEEP
    )
    assert wait_for(lambda: leader.leading)
    follower = start(
        started, dispatcher=second, leadership=FileLeadership(lock), clock=clock, cadence=NO_SWEEP
    )
    time.sleep(0.3)  # several leadership checks
    assert not follower.leading
    assert second.calls == []

    leader.stop()
    due = second.add(clock.now() - timedelta(seconds=5))  # fell due while nobody led
    assert wait_for(lambda: follower.leading, timeout=1)
    assert wait_for(lambda: len(second.delivered) == 1)
    assert second.calls[:2] == ["reconcile", "dispatch"]
    assert second.delivered[0][0] == due


def test_losing_leadership_stops_dispatching_at_once(
    clock: ShiftedClock, dispatcher: FakeDispatcher, started: list[ReminderScheduler]
) -> None:
    leadership = SwitchedLeadership()
    scheduler = start(
        started,
        dispatcher=dispatcher,
        leadership=leadership,
        clock=clock,
        cadence=Cadence(sweep_s=0.1, escalate_s=0.1, leadership_s=0.1),
    )
    assert wait_for(lambda: dispatcher.calls.count("dispatch") >= 2)

    lost_at = time.monotonic()
    leadership.held = False
    assert wait_for(lambda: not scheduler.leading, timeout=1)
    assert time.monotonic() - lost_at < 0.25  # noticed at the first check after the loss
    time.sleep(0.05)  # a pass already under way finishes
    calls = len(dispatcher.calls)
    dispatcher.add(clock.now())
    scheduler.wake(clock.now())
    time.sleep(0.4)  # four sweeps' worth
    assert len(dispatcher.calls) == calls
    assert dispatcher.delivered == []


def test_stop_ends_every_pass_and_gives_up_the_lock(
    clock: ShiftedClock, dispatcher: FakeDispatcher, tmp_path: Path
) -> None:
    lock = FileLeadership(tmp_path / "db.scheduler.lock")
    scheduler = ReminderScheduler(
        dispatcher=dispatcher, leadership=lock, clock=clock, cadence=NO_SWEEP
    )
    scheduler.start()
    assert wait_for(lambda: scheduler.leading)
    scheduler.stop()

    assert not scheduler.leading
    assert FileLeadership(tmp_path / "db.scheduler.lock").acquire()
    calls = len(dispatcher.calls)
    dispatcher.add(clock.now())
    time.sleep(0.2)
    assert len(dispatcher.calls) == calls


def test_a_one_shot_job_removed_after_stop_is_no_error_in_the_loop(
    clock: ShiftedClock, dispatcher: FakeDispatcher, tmp_path: Path
) -> None:
    """APScheduler's loop removes a one-shot job (``reconcile``) after submitting it; once
    ``stop()`` has marked the scheduler stopped and removed that job itself, the loop's removal
    must not raise (it ended the loop's thread: an unhandled thread exception in CI)."""
    scheduler = ReminderScheduler(
        dispatcher=dispatcher,
        leadership=FileLeadership(tmp_path / "db.scheduler.lock"),
        clock=clock,
        cadence=NO_SWEEP,
    )
    scheduler.start()
    assert wait_for(lambda: scheduler.leading)
    scheduler.stop()

    scheduler._scheduler.remove_job("reconcile")  # what the loop does next: no JobLookupError
    scheduler._scheduler.remove_job("never-added")


def test_the_heartbeat_row_says_who_leads_and_when_it_last_beat(
    sessions: sessionmaker[Session],
    clock: ShiftedClock,
    dispatcher: FakeDispatcher,
    started: list[ReminderScheduler],
) -> None:
    """Written at start and every sweep, on SQLite and PostgreSQL; stop marks it not leading."""
    leadership = SwitchedLeadership()
    scheduler = start(
        started,
        dispatcher=dispatcher,
        leadership=leadership,
        clock=clock,
        sessions=sessions,
        cadence=Cadence(sweep_s=0.2, escalate_s=600, leadership_s=0.1),
    )
    assert wait_for(lambda: any(row.leader for row in beats(sessions)))
    (row,) = beats(sessions)
    assert row.process == scheduler.process.key
    assert row.pid == scheduler.process.pid
    first_beat = row.beat_at
    assert abs((first_beat - clock.now()).total_seconds()) < 1

    assert wait_for(lambda: beats(sessions)[0].beat_at > first_beat)
    leadership.held = False
    assert wait_for(lambda: not beats(sessions)[0].leader)


def test_a_new_leader_clears_the_flag_of_a_leader_that_died(
    sessions: sessionmaker[Session], clock: ShiftedClock
) -> None:
    dead = ProcessId(started_at=clock.now(), host="gone", pid=1)
    alive = ProcessId(started_at=clock.now(), host="here", pid=2)
    beat(sessions, dead, leader=True, at=clock.now())
    beat(sessions, alive, leader=False, at=clock.now())

    beat(sessions, alive, leader=True, at=clock.now())
    assert {row.process: row.leader for row in beats(sessions)} == {
        dead.key: False,
        alive.key: True,
    }


def test_on_postgresql_a_killed_lock_connection_stops_the_leader_and_the_follower_leads(
    postgres_url: str, clock: ShiftedClock, started: list[ReminderScheduler]
) -> None:
    """The leader's lock session is terminated: it stops dispatching; the other takes over."""
    key = 7_100_000_000 + os.getpid()
    first, second = FakeDispatcher(clock), FakeDispatcher(clock)
    first_lock = PostgresLeadership(postgres_url, key=key)
    cadence = Cadence(sweep_s=0.2, escalate_s=600, leadership_s=0.1)
    leader = start(started, dispatcher=first, leadership=first_lock, clock=clock, cadence=cadence)
    assert wait_for(lambda: leader.leading)
    follower = start(
        started,
        dispatcher=second,
        leadership=PostgresLeadership(postgres_url, key=key),
        clock=clock,
        cadence=cadence,
    )
    time.sleep(0.3)
    assert not follower.leading

    admin = make_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": first_lock.backend_pid()}
            )
    finally:
        admin.dispose()
    assert wait_for(lambda: not leader.leading, timeout=1)
    calls = len(first.calls)
    assert wait_for(lambda: follower.leading, timeout=2)
    due = second.add(clock.now())
    assert wait_for(lambda: len(second.delivered) == 1)
    assert second.delivered[0][0] == due
    time.sleep(0.3)
    assert len(first.calls) == calls  # the old leader dispatched nothing more


def test_the_leader_deletes_the_rows_of_processes_silent_for_a_week(
    sessions: sessionmaker[Session], clock: ShiftedClock
) -> None:
    """Each restart is a new row; rows silent for KEPT_FOR go, recent ones stay."""
    now = clock.now()
    gone = ProcessId(started_at=now - timedelta(days=30), host="old", pid=1)
    recent = ProcessId(started_at=now - timedelta(days=2), host="recent", pid=2)
    leader = ProcessId(started_at=now, host="here", pid=3)
    beat(sessions, gone, leader=False, at=now - KEPT_FOR - timedelta(minutes=1))
    beat(sessions, recent, leader=False, at=now - KEPT_FOR + timedelta(minutes=1))

    beat(sessions, leader, leader=False, at=now)  # a follower deletes nothing
    assert len(beats(sessions)) == 3
    beat(sessions, leader, leader=True, at=now)

    assert [row.process for row in beats(sessions)] == [leader.key, recent.key]
