"""Reminders running for real: the dispatcher woken by the scheduler, on SQLite and PostgreSQL.

Rows are written as the services write them; the real dispatcher delivers them through the
console notifier, woken at their due time (no sweep in these tests), or at start-up when they
fell due while nothing ran. A delivery attempted after leadership was lost is not made: it is
recorded as a retry for the next leader.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import SystemClock
from bot.db import models
from bot.protocol_files import load_protocol
from bot.services.api import OPERATOR, Services
from bot.settings import Settings
from reminders.contacts import Contacts, settings_contacts
from reminders.dispatcher import Dispatcher
from reminders.notifier import (
    ConsoleNotifier,
    Delivery,
    Outcome,
    ReminderMessage,
    Role,
    Target,
)
from reminders.runtime import (
    HANDBACK_RETRY_S,
    LEADERSHIP_LOST,
    LeaderOnlyNotifier,
    RunningReminders,
    reminders_for,
    start_reminders,
)
from reminders.scheduler import Cadence

NURSE = "U0NURSE01"
QUIET = Cadence(sweep_s=600, escalate_s=600, leadership_s=0.1)
WHO = settings_contacts({}, None)


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def new_case(sessions: sessionmaker[Session]) -> tuple[int, str]:
    """A registered case (as the services register it): its id and code."""
    services = Services(sessions=sessions, clock=SystemClock(), protocol=load_protocol(environ={}))
    data = {
        "product": "axi-cel",
        "infused_at": datetime.now(UTC) - timedelta(days=2),
        "weight_kg": 72,
        "nurses": [NURSE],
    }
    case = services.register_case(OPERATOR, data)
    return case.id, case.code


def add_reminder(sessions: sessionmaker[Session], case_id: int, due_at: datetime) -> int:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        row = models.Reminder(
            case_id=case_id,
            kind="reassess_vitals",
            due_at=due_at,
            recipient=NURSE,
            policy_version="test",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return row.id


def reminder(sessions: sessionmaker[Session], reminder_id: int) -> models.Reminder:
    with sessions() as session:
        return session.execute(
            select(models.Reminder).where(models.Reminder.id == reminder_id)
        ).scalar_one()


@pytest.fixture
def running() -> Iterator[list[RunningReminders]]:
    started: list[RunningReminders] = []
    yield started
    for one in started:
        one.stop()


def test_a_reminder_prints_on_the_console_at_its_due_time(
    sessions: sessionmaker[Session], tmp_path: Path, running: list[RunningReminders]
) -> None:
    case_id, code = new_case(sessions)
    due = datetime.now(UTC) + timedelta(milliseconds=600)
    reminder_id = add_reminder(sessions, case_id, due)
    out = io.StringIO()
    running.append(
        start_reminders(
            sessions=sessions,
            protocol=load_protocol(environ={}),
            clock=SystemClock(),
            notifier=ConsoleNotifier(out),
            who=WHO,
            cadence=QUIET,
        )
    )

    assert wait_for(lambda: reminder(sessions, reminder_id).state == "sent")
    row = reminder(sessions, reminder_id)
    assert row.sent_at is not None
    assert timedelta(0) <= row.sent_at - due < timedelta(milliseconds=300)
    assert out.getvalue().count("[reminder") == 1
    assert f"@{NURSE}" in out.getvalue()
    assert code in out.getvalue()
    assert "(on time)" in out.getvalue()


def test_a_reminder_due_while_nothing_ran_is_delivered_at_start_saying_how_late(
    sessions: sessionmaker[Session], running: list[RunningReminders]
) -> None:
    case_id, _ = new_case(sessions)
    reminder_id = add_reminder(sessions, case_id, datetime.now(UTC) - timedelta(minutes=12))
    out = io.StringIO()
    running.append(
        start_reminders(
            sessions=sessions,
            protocol=load_protocol(environ={}),
            clock=SystemClock(),
            notifier=ConsoleNotifier(out),
            who=WHO,
            cadence=QUIET,
        )
    )

    assert wait_for(lambda: reminder(sessions, reminder_id).state == "sent")
    assert "(12 min late)" in out.getvalue()


class Recording:
    """A notifier that records the messages it delivers."""

    def __init__(self) -> None:
        self.messages: list[ReminderMessage] = []

    def deliver(self, message: ReminderMessage) -> Delivery:
        self.messages.append(message)
        return Delivery.sent()


def test_a_delivery_after_leadership_is_lost_is_not_made_but_recorded_as_a_retry(
    sessions: sessionmaker[Session],
) -> None:
    """The old leader hands the row back; the next leader delivers it once, attempt 2."""
    case_id, _ = new_case(sessions)
    reminder_id = add_reminder(sessions, case_id, datetime.now(UTC) - timedelta(seconds=1))
    protocol = load_protocol(environ={})
    lost, leader = Recording(), Recording()

    def dispatcher(notifier: LeaderOnlyNotifier) -> Dispatcher:
        return Dispatcher(
            sessions=sessions,
            clock=SystemClock(),
            protocol=protocol,
            notifier=notifier,
            who=lambda case: Contacts(case.nurses),
        )

    dispatcher(LeaderOnlyNotifier(lost, lambda: False)).dispatch_due()
    row = reminder(sessions, reminder_id)
    assert lost.messages == []
    assert (row.state, row.attempts, row.last_error) == ("sending", 1, LEADERSHIP_LOST)

    dispatcher(LeaderOnlyNotifier(leader, lambda: True)).reconcile()  # a new leader's start
    row = reminder(sessions, reminder_id)
    assert [m.reminder_id for m in leader.messages] == [reminder_id]
    assert (row.state, row.attempts) == ("sent", 2)


def test_the_leader_only_notifier_passes_through_while_leading() -> None:
    inner = Recording()
    message = ReminderMessage(
        reminder_id=1,
        case_code="TXB-TEST",
        kind="reassess_vitals",
        due_at=datetime.now(UTC),
        level=0,
        target=Target("user", NURSE, Role.RECIPIENT),
        late_by=timedelta(0),
        overdue=False,
    )
    assert LeaderOnlyNotifier(inner, lambda: True).deliver(message).outcome is Outcome.SENT
    refused = LeaderOnlyNotifier(inner, lambda: False).deliver(message)
    assert (refused.outcome, refused.error, refused.retry_after) == (
        Outcome.RETRY,
        LEADERSHIP_LOST,
        HANDBACK_RETRY_S,
    )
    assert len(inner.messages) == 1


def test_toxbot_reminders_off_starts_nothing(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'toxbot.db'}", toxbot_reminders=False)
    services = Services(
        sessions=sessionmaker(), clock=SystemClock(), protocol=load_protocol(environ={})
    )
    assert reminders_for(settings, services, ConsoleNotifier(io.StringIO())) is None
    assert not (tmp_path / "toxbot.db.scheduler.lock").exists()


def test_an_in_memory_database_starts_no_reminders() -> None:
    """A second engine on ``sqlite://`` would be another, empty database."""
    settings = Settings(database_url="sqlite://")
    services = Services(
        sessions=sessionmaker(), clock=SystemClock(), protocol=load_protocol(environ={})
    )
    assert reminders_for(settings, services, ConsoleNotifier(io.StringIO())) is None


def test_the_configured_database_gets_reminders_until_stopped(tmp_path: Path) -> None:
    """As the console starts them: the settings' database, its file lock, then stopped."""
    from bot.app import build_services

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'toxbot.db'}")
    services = build_services(settings)
    running = reminders_for(settings, services, ConsoleNotifier(io.StringIO()))
    assert running is not None
    try:
        assert wait_for(lambda: running.scheduler.leading)
        assert (tmp_path / "toxbot.db.scheduler.lock").exists()
        assert services.reminders_planned == running.wake  # records wake the dispatcher
    finally:
        running.stop()
    assert not running.scheduler.leading
