"""Reminders running in a process: the dispatcher, its scheduler and the leadership, started
together and stopped together (``toxbot serve`` and the console call this).

The notifier each delivery goes through is wrapped so that it delivers only while this process
leads: a delivery attempted after leadership was lost is not made, and is handed back to the
dispatcher as a transient failure ("leadership_lost"). The dispatcher records that retry; the new
leader's start-up reconcile delivers it at once (or this process, should it lead again, after
:data:`HANDBACK_RETRY_S`). A reminder is never lost between leaders, and is delivered twice only
where a retry is recorded.

Example::

    running = start_reminders(sessions=sessions, protocol=protocol, clock=SystemClock(),
                              notifier=ConsoleNotifier(sys.stdout), who=who)
    ...
    running.wake(due_at)  # a reminder due sooner than anything else was recorded
    running.stop()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, SystemClock
from bot.db.engine import make_engine, session_factory
from grading.protocol import Protocol
from reminders.contacts import Who, settings_contacts
from reminders.dispatcher import Dispatcher
from reminders.leader import Leadership, leadership_for
from reminders.notifier import Delivery, Notifier, ReminderMessage
from reminders.scheduler import DEFAULT_CADENCE, Cadence, ReminderScheduler

if TYPE_CHECKING:
    from bot.services.api import Services
    from bot.settings import Settings

log = logging.getLogger("toxbot.reminders")

LEADERSHIP_LOST: Final = "leadership_lost"
HANDBACK_RETRY_S: Final = 5.0  # not at once: the dispatcher would claim it again in this pass
# The scheduler's own small pool (PostgreSQL): its passes never wait behind Slack requests for
# a connection, and never make one wait.
POOL_OPTIONS: Final = {"pool_size": 2, "max_overflow": 0}


class LeaderOnlyNotifier:
    """Delivers through ``inner`` only while ``leading()`` says this process leads."""

    def __init__(self, inner: Notifier, leading: Callable[[], bool]) -> None:
        self._inner = inner
        self._leading = leading

    def deliver(self, message: ReminderMessage) -> Delivery:
        """Deliver, or hand the message back for the next leader (a recorded retry)."""
        if not self._leading():
            return Delivery.retry(LEADERSHIP_LOST, retry_after=HANDBACK_RETRY_S)
        return self._inner.deliver(message)


@dataclass
class RunningReminders:
    """The reminder machinery of one process; ``stop()`` ends it."""

    scheduler: ReminderScheduler
    dispatcher: Dispatcher
    engine: Engine | None = None  # disposed on stop when it was made for the reminders

    def wake(self, at: datetime) -> None:
        """A reminder is due at ``at``: make sure the dispatcher looks then at the latest."""
        self.scheduler.wake(at)

    def stop(self) -> None:
        """Stop the passes (a running one finishes), give up leadership, close connections."""
        self.scheduler.stop()
        if self.engine is not None:
            self.engine.dispose()


def start_reminders(
    *,
    sessions: sessionmaker[Session],
    protocol: Protocol,
    clock: Clock,
    notifier: Notifier,
    who: Who,
    cadence: Cadence = DEFAULT_CADENCE,
    leadership: Leadership | None = None,
) -> RunningReminders:
    """Build the dispatcher and its scheduler over ``sessions`` and start them.

    Leadership defaults to what the sessions' database calls for (``reminders.leader``).
    """
    engine = sessions.kw["bind"]
    scheduler: ReminderScheduler | None = None

    def leading() -> bool:
        return scheduler is not None and scheduler.leading

    dispatcher = Dispatcher(
        sessions=sessions,
        clock=clock,
        protocol=protocol,
        notifier=LeaderOnlyNotifier(notifier, leading),
        who=who,
    )
    scheduler = ReminderScheduler(
        dispatcher=dispatcher,
        leadership=leadership or leadership_for(engine),
        clock=clock,
        sessions=sessions,
        cadence=cadence,
    )
    scheduler.start()
    return RunningReminders(scheduler, dispatcher)


def reminders_for(
    settings: Settings,
    services: Services,
    notifier: Notifier,
    *,
    clock: Clock | None = None,
    cadence: Cadence = DEFAULT_CADENCE,
) -> RunningReminders | None:
    """Start reminders for a front end as the settings say; None when ``TOXBOT_REMINDERS=off``.

    The database is the configured one (already upgraded by ``build_services``), over a pool
    of its own; the protocol is the services'; contacts come from the settings.
    """
    if not settings.toxbot_reminders:
        return None
    url = settings.database_url.get_secret_value()
    sqlite = make_url(url).get_backend_name() == "sqlite"
    if sqlite and make_url(url).database in (None, "", ":memory:"):
        # A second engine would open a second, empty, in-memory database: nothing to remind.
        log.info("reminders not started: an in-memory database is private to its engine")
        return None
    engine = make_engine(url, **({} if sqlite else POOL_OPTIONS))
    running = start_reminders(
        sessions=session_factory(engine),
        protocol=services.protocol,
        clock=clock or SystemClock(),
        notifier=notifier,
        who=settings_contacts(settings.charge_nurses, settings.toxbot_oncall_channel),
        cadence=cadence,
    )
    running.engine = engine
    services.reminders_planned = running.wake  # a record's next reminder wakes the dispatcher
    return running
