"""What wakes the dispatcher: APScheduler jobs, run only while this process leads (design §8).

The ``reminder`` table is the truth; the scheduler only decides *when* the dispatcher looks at
it. One ``BackgroundScheduler`` (UTC, in-memory jobs, ``misfire_grace_time=None`` so a late job
still runs, ``coalesce=True`` so a backlog of runs runs once) with:

* ``leadership`` (every ``leadership_s``): a follower tries to take the lead; the leader checks
  it still has it, and on losing it stops dispatching before anything else;
* ``heartbeat`` (every sweep): this process's row in ``scheduler_heartbeat``;
* and, on the leader only: ``wake`` (a one-off job at the next due time, re-armed after every
  pass and by :meth:`ReminderScheduler.wake` when a sooner reminder is recorded), ``sweep``
  (every ``sweep_s``: whatever the wake-ups missed, e.g. reminders recorded by another process)
  and ``escalate`` (the escalation pass).

Passes that touch reminders run one at a time on a single worker thread, so the dispatcher is
never re-entered from here; leadership and heartbeat run on another, so a slow delivery never
delays noticing that leadership was lost. On taking the lead, ``reconcile()`` runs first: what
fell due while nobody led is delivered, marked late.

Times come from an injected clock: a wake-up for due time ``at`` fires after ``at - now`` of
real time, so a test clock set anywhere still wakes the dispatcher at the right moment.

Example::

    scheduler = ReminderScheduler(dispatcher=dispatcher, leadership=leadership_for(engine),
                                  clock=SystemClock(), sessions=sessions)
    scheduler.start()
    scheduler.wake(due_at)  # after recording a reminder due sooner
    scheduler.stop()
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

# APScheduler 3 ships no type information.
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from reminders.heartbeat import ProcessId, beat
from reminders.leader import Leadership

log = logging.getLogger("toxbot.reminders.scheduler")

DISPATCH: Final = "dispatch"  # executor: passes over reminders, one at a time
WATCH: Final = "watch"  # executor: leadership and heartbeat
LEADER_JOBS: Final = ("reconcile", "wake", "sweep", "escalate")
WAKE_INSTANCES: Final = 2  # one running and one waiting behind it (see _arm)


class Dispatches(Protocol):
    """What the scheduler wakes (``reminders.dispatcher.Dispatcher``)."""

    def dispatch_due(self, now: datetime | None = None) -> Any:
        """Deliver what is due."""
        ...

    def escalate(self, now: datetime | None = None) -> Any:
        """Escalate what went unanswered."""
        ...

    def next_due_at(self) -> datetime | None:
        """When the dispatcher next has something to do; None when nothing is open."""
        ...

    def reconcile(self) -> Any:
        """Handle everything overdue (start-up, or a new leader), marked late."""
        ...


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often the scheduler looks: the issue's defaults, shortened in tests and the bench."""

    sweep_s: float = 30.0
    escalate_s: float = 30.0
    leadership_s: float = 2.0


DEFAULT_CADENCE: Final = Cadence()


class ReminderScheduler:
    """The jobs that wake the dispatcher, run while this process holds the leadership."""

    def __init__(
        self,
        *,
        dispatcher: Dispatches,
        leadership: Leadership,
        clock: Clock,
        sessions: sessionmaker[Session] | None = None,
        cadence: Cadence = DEFAULT_CADENCE,
    ) -> None:
        self._dispatcher = dispatcher
        self._leadership = leadership
        self._clock = clock
        self._sessions = sessions
        self._cadence = cadence
        self._process = ProcessId(started_at=clock.now())
        self._leading = threading.Event()
        self._stopped = threading.Event()
        self._arm_lock = threading.Lock()
        # When the wake run armed last fires (real time), from its arming until it starts: in
        # the job store, or handed to the dispatch thread and waiting there. None when none is.
        self._wake_armed_for: datetime | None = None
        self._pass_lock = threading.Lock()  # held by a pass over reminders while it runs
        self._watch_lock = threading.Lock()  # held by a leadership check or a beat
        self._scheduler = _Scheduler(
            timezone=UTC,
            executors={DISPATCH: ThreadPoolExecutor(1), WATCH: ThreadPoolExecutor(1)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    @property
    def leading(self) -> bool:
        """Whether this process leads now (cleared the moment leadership is found lost)."""
        return self._leading.is_set()

    @property
    def process(self) -> ProcessId:
        """This process as its heartbeat row names it."""
        return self._process

    def start(self) -> None:
        """Start the scheduler; the first leadership check and heartbeat run at once."""
        self._scheduler.start()
        now = datetime.now(UTC)
        self._scheduler.add_job(
            self._check_leadership,
            "interval",
            seconds=self._cadence.leadership_s,
            id="leadership",
            executor=WATCH,
            next_run_time=now,
        )
        if self._sessions is not None:
            self._scheduler.add_job(
                self._beat,
                "interval",
                seconds=self._cadence.sweep_s,
                id="heartbeat",
                executor=WATCH,
                next_run_time=now,
            )

    def stop(self) -> None:
        """Stop dispatching, wait for a running pass to finish, and give up the leadership."""
        self._stopped.set()
        self._leading.clear()
        if self._scheduler.running:
            # Not wait=True: APScheduler waits holding its job store lock, which a pass that is
            # re-arming the wake job needs: a deadlock. The passes' own locks are waited on.
            self._scheduler.shutdown(wait=False)
        with self._pass_lock:
            pass
        with self._watch_lock:
            self._leadership.release()
            self._write_beat(leader=False)

    def wake(self, at: datetime) -> None:
        """Make sure the dispatcher looks at ``at`` at the latest (a reminder due then exists).

        Called after a reminder is recorded; cheap, and a no-op unless it brings the next
        wake-up forward. A follower ignores it: the leader's sweep finds the row.
        """
        if self.leading:
            self._arm(at)

    # ----------------------------------------------------------------------------------------
    # Leadership

    def _check_leadership(self) -> None:
        with self._watch_lock:
            if self._stopped.is_set():
                return
            if self.leading:
                if not self._leadership.still_leader():
                    self._step_down()
            elif self._leadership.acquire():
                self._take_over()

    def _take_over(self) -> None:
        log.info("scheduler leadership taken by %s", self._process.key)
        self._leading.set()
        cadence = self._cadence
        self._add_pass("reconcile", self._reconcile, "date", run_date=datetime.now(UTC))
        self._add_pass("sweep", self._sweep, "interval", seconds=cadence.sweep_s)
        self._add_pass("escalate", self._escalate, "interval", seconds=cadence.escalate_s)
        self._write_beat(leader=True)

    def _step_down(self) -> None:
        # First, so a pass about to start sees it; then the jobs go.
        self._leading.clear()
        log.warning("scheduler leadership lost by %s: dispatching stopped", self._process.key)
        for job_id in LEADER_JOBS:
            self._scheduler.remove_job(job_id)
        with self._arm_lock:
            self._wake_armed_for = None  # a run already handed over returns at once, not leading
        self._write_beat(leader=False)

    def _beat(self) -> None:
        with self._watch_lock:
            if not self._stopped.is_set():
                self._write_beat(leader=self.leading)

    def _write_beat(self, *, leader: bool) -> None:
        if self._sessions is None:
            return
        try:
            beat(self._sessions, self._process, leader=leader, at=self._clock.now())
        except Exception as exc:  # a missed beat is reported, never fatal; no SQL in the log
            log.warning("scheduler heartbeat not written (%s)", type(exc).__name__)

    # ----------------------------------------------------------------------------------------
    # Passes (on the dispatch thread, one at a time, only while leading)

    def _reconcile(self) -> None:
        with self._pass_lock:
            self._run("reconcile", self._dispatcher.reconcile)
            self._run("dispatch", self._dispatcher.dispatch_due)
            self._rearm()

    def _sweep(self) -> None:
        with self._pass_lock:
            self._run("sweep", self._dispatcher.dispatch_due)
            self._rearm()

    def _wake(self) -> None:
        with self._arm_lock:
            self._wake_armed_for = None  # started: what is recorded from now needs a new run
        with self._pass_lock:
            self._run("wake", self._dispatcher.dispatch_due)
            self._rearm()

    def _escalate(self) -> None:
        with self._pass_lock:
            self._run("escalate", self._dispatcher.escalate)
            self._rearm()

    def _run(self, what: str, step: Callable[[], Any]) -> None:
        if not self.leading:
            return
        try:
            step()
        except Exception as exc:  # the next pass retries; the message may carry SQL values
            log.error("reminder %s pass failed (%s); retried next pass", what, type(exc).__name__)

    def _rearm(self) -> None:
        if not self.leading:
            return
        try:
            upcoming = self._dispatcher.next_due_at()
        except Exception as exc:  # the sweep still comes
            log.error("reminder next due time unknown (%s)", type(exc).__name__)
            return
        if upcoming is not None:
            self._arm(upcoming)

    def _arm(self, at: datetime) -> None:
        """Set the wake job to ``at`` (in real time), unless a wake run not yet started fires
        sooner.

        A run already handed to the dispatch thread counts: it has yet to dispatch, and it
        re-arms for whatever is due after it. So a burst of reminders recorded during a long
        pass queues one run behind it, not one each (APScheduler would skip those past
        :data:`WAKE_INSTANCES`, warning of each). A wake run that fires sooner than needed costs
        one empty pass, which re-arms it.
        """
        run_date = datetime.now(UTC) + max(at - self._clock.now(), timedelta(0))
        with self._arm_lock:
            armed = self._wake_armed_for
            if armed is not None and armed <= run_date:
                return
            if self._add_pass(
                "wake", self._wake, "date", run_date=run_date, max_instances=WAKE_INSTANCES
            ):
                self._wake_armed_for = run_date

    def _add_pass(
        self, job_id: str, func: Callable[[], None], trigger: str, **options: Any
    ) -> bool:
        """Schedule a pass (replacing one of the same id not yet started); False when stopped."""
        if self._stopped.is_set() or not self._scheduler.running:
            return False
        self._scheduler.add_job(
            func, trigger, id=job_id, executor=DISPATCH, replace_existing=True, **options
        )
        return True


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's background scheduler, where removing a job already gone is not an error.

    Its loop removes a one-shot job (``reconcile``, ``wake``) after submitting it; a step-down or
    ``stop()`` may have removed it first. Once ``shutdown()`` has marked the scheduler stopped,
    ``remove_job`` looks only among jobs not yet started and raises ``JobLookupError`` for any
    other, which ended the loop's thread (an unhandled thread exception at ``stop()`` in CI).
    """

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        with contextlib.suppress(JobLookupError):
            super().remove_job(job_id, jobstore)
