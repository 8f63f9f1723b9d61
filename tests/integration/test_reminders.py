"""The reminder engine against a real database, on SQLite and PostgreSQL (issue 6).

A fake clock and a recording notifier: dispatch, acknowledge, snooze, escalate, overdue, resolve,
delivery failures, restart, and daylight-saving changes, with every transition audited.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import models
from bot.protocol_files import load_protocol
from bot.services.api import Actor, Services
from bot.services.audit import verify_chain
from bot.services.members import Denied, Role, set_role
from bot.services.reminders import NotAssigned
from grading import parse_assessment
from reminders.contacts import Contacts, settings_contacts
from reminders.dispatcher import Dispatcher
from reminders.notifier import ConsoleNotifier, Delivery, ReminderMessage
from tests.integration.conftest import FakeClock
from tests.reminder_fakes import RecordingNotifier

NURSE = Actor("U0NURSE1", "slack")
OTHER_NURSE = Actor("U0NURSE2", "slack")
CHARGE = Actor("U0CHARGE", "slack")
CLINICIAN = Actor("U0DOC001", "slack")
UNIT = "4 West"
ON_CALL = "C0ONCALL"
WHO = settings_contacts({UNIT: CHARGE.user}, ON_CALL)


@pytest.fixture
def services(sessions: sessionmaker[Session], clock: FakeClock) -> Services:
    with sessions.begin() as session:
        for actor, role, unit in (
            (NURSE, Role.NURSE, UNIT),
            (OTHER_NURSE, Role.NURSE, "ICU"),
            (CHARGE, Role.NURSE, UNIT),
            (CLINICIAN, Role.CLINICIAN, None),
        ):
            set_role(
                session, actor="setup", target=actor.user, role=role, unit=unit, at=clock.now()
            )
    return Services(sessions=sessions, clock=clock, protocol=load_protocol(environ={}))


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def dispatcher(
    sessions: sessionmaker[Session],
    clock: FakeClock,
    services: Services,
    notifier: RecordingNotifier,
) -> Dispatcher:
    return Dispatcher(
        sessions=sessions, clock=clock, protocol=services.protocol, notifier=notifier, who=WHO
    )


def new_case(services: Services, clock: FakeClock) -> str:
    data = {
        "product": "axi-cel",
        "infused_at": clock.now() - timedelta(days=2),
        "weight_kg": 72,
        "unit": UNIT,
        "nurses": [NURSE.user],
    }
    return services.register_case(CLINICIAN, data).code


def assess(services: Services, code: str) -> None:
    """CRS 2: vitals due in 2 h, neuro in 4 h (§0.1)."""
    parsed = parse_assessment("temp=39.2 bp=low o2=ra ice=10 loc=alert signs=none")
    services.record_assessment(NURSE, code, parsed.assessment)


def reminders(sessions: sessionmaker[Session]) -> list[models.Reminder]:
    with sessions() as session:
        return list(session.scalars(select(models.Reminder).order_by(models.Reminder.id)))


def actions(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return [
            e.action
            for e in session.scalars(select(models.AuditEvent).order_by(models.AuditEvent.id))
        ]


def add_reminder(sessions: sessionmaker[Session], code: str, due: datetime, **extra: Any) -> int:
    """A pending reminder for ``code`` due at ``due`` (the recipient: its nurse)."""
    with sessions.begin() as session:
        case = session.scalars(select(models.Case).where(models.Case.code == code)).one()
        row = models.Reminder(
            case_id=case.id,
            kind=extra.pop("kind", "reassess_vitals"),
            due_at=due,
            state="pending",
            level=0,
            recipient=extra.pop("recipient", NURSE.user),
            attempts=0,
            version=1,
            policy_version="test",
            created_at=due - timedelta(hours=1),
            updated_at=due - timedelta(hours=1),
            **extra,
        )
        session.add(row)
        session.flush()
        return row.id


# --- delivery ----------------------------------------------------------------------------------


def test_a_due_reminder_is_sent_once_to_the_nurse_with_the_case_and_last_grades(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    code = new_case(services, clock)
    assess(services, code)
    assert dispatcher.next_due_at() == clock.now() + timedelta(hours=2)
    assert dispatcher.run_once().delivered == 0  # nothing due yet
    clock.advance(hours=2)
    report = dispatcher.run_once()
    assert report.sent == 1
    assert report.lateness == [timedelta(0)]
    [message] = notifier.messages
    assert (message.case_code, message.kind, message.level) == (code, "reassess_vitals", 0)
    assert message.target.id == NURSE.user
    assert (message.crs_grade, message.icans_grade) == (2, 0)
    assert message.snoozes_left == 2
    vitals = next(r for r in reminders(sessions) if r.kind == "reassess_vitals")
    assert (vitals.state, vitals.sent_at, vitals.slack_ts) == (
        "sent",
        clock.now(),
        f"{vitals.id}.1",
    )
    assert vitals.wake_at == clock.now() + timedelta(minutes=15)
    assert dispatcher.run_once().delivered == 0  # a second pass sends nothing again
    assert actions(sessions)[-2:] == ["reminder.sending", "reminder.sent"]


def test_unacknowledged_repeats_to_nurse_and_charge_nurse_then_goes_to_on_call(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    """§0.1: 15 min → repeat and the charge nurse (level 1); 30 min → on-call (level 2)."""
    code = new_case(services, clock)
    add_reminder(sessions, code, clock.now())
    dispatcher.run_once()
    clock.advance(minutes=14, seconds=59)
    assert dispatcher.run_once().delivered == 0
    clock.advance(seconds=1)
    assert dispatcher.run_once().escalated == 1
    assert [m.target.id for m in notifier.messages] == [NURSE.user, NURSE.user, CHARGE.user]
    assert notifier.messages[-1].level == 1
    clock.advance(minutes=15)
    report = dispatcher.run_once()
    assert report.escalated == 1
    assert notifier.messages[-1].target.id == ON_CALL
    assert notifier.messages[-1].level == 2
    assert notifier.messages[-1].overdue  # 30 min after due, not recorded
    clock.advance(hours=5)
    assert dispatcher.run_once().delivered == 0  # nobody above on-call
    row = reminders(sessions)[0]
    assert (row.state, row.level, row.overdue) == ("escalated", 2, True)
    assert actions(sessions).count("reminder.escalated") == 2


def test_acknowledged_stops_escalation_and_a_second_press_is_a_no_op(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    code = new_case(services, clock)
    reminder_id = add_reminder(sessions, code, clock.now())
    dispatcher.run_once()
    clock.advance(minutes=5)
    done = services.acknowledge_reminder(NURSE, reminder_id)
    assert done.changed
    assert done.text() == "acknowledged by U0NURSE1 at 08:05 UTC"
    clock.advance(minutes=1)
    again = services.acknowledge_reminder(NURSE, reminder_id)
    assert not again.changed
    assert again.acknowledged_at == done.acknowledged_at
    clock.advance(hours=3)
    assert dispatcher.run_once().delivered == 0
    assert len(notifier.messages) == 1
    assert actions(sessions).count("reminder.acknowledged") == 1


def test_snooze_delays_the_repeat_at_most_twice_and_overdue_still_escalates(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    code = new_case(services, clock)
    reminder_id = add_reminder(sessions, code, clock.now())
    dispatcher.run_once()
    first = services.snooze_reminder(NURSE, reminder_id)
    assert first.changed
    assert first.snoozed_until == clock.now() + timedelta(minutes=15)
    assert not services.snooze_reminder(NURSE, reminder_id).changed  # pressed twice: no-op
    clock.advance(minutes=15)
    assert dispatcher.run_once().sent == 1  # the snooze ended: sent again
    assert services.snooze_reminder(NURSE, reminder_id).changed
    clock.advance(minutes=15)
    dispatcher.run_once()  # sent again at +30, and overdue at +30: escalated at once
    third = services.snooze_reminder(NURSE, reminder_id)
    assert not third.changed
    assert third.refusal is not None
    assert "allows 2" in third.refusal
    assert CHARGE.user in {m.target.id for m in notifier.messages}
    assert actions(sessions).count("reminder.snoozed") == 2


def test_recording_the_assessment_resolves_the_reminder_mid_escalation(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    code = new_case(services, clock)
    assess(services, code)
    clock.advance(hours=2)
    dispatcher.run_once()
    clock.advance(minutes=15)
    dispatcher.run_once()  # level 1
    assess(services, code)
    sent = len(notifier.messages)
    clock.advance(minutes=30)
    assert dispatcher.run_once().delivered == 0
    assert len(notifier.messages) == sent
    first_two = [r for r in reminders(sessions) if r.created_at < clock.now() - timedelta(hours=1)]
    assert [r.state for r in first_two] == ["resolved", "resolved"]


def test_a_transient_failure_is_retried_honouring_retry_after(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    answers = iter([Delivery.retry("ratelimited", retry_after=20), Delivery.retry("http_500")])
    notifier = RecordingNotifier(lambda m: next(answers, Delivery.sent("D1", "1.1")))
    dispatcher = Dispatcher(
        sessions=sessions, clock=clock, protocol=services.protocol, notifier=notifier, who=WHO
    )
    code = new_case(services, clock)
    add_reminder(sessions, code, clock.now())
    assert dispatcher.run_once().retried == 1
    row = reminders(sessions)[0]
    assert (row.state, row.last_error, row.wake_at) == (
        "sending",
        "ratelimited",
        clock.now() + timedelta(seconds=20),
    )
    clock.advance(seconds=19)
    assert dispatcher.run_once().retried == 0
    clock.advance(seconds=1)
    assert dispatcher.run_once().retried == 1  # a 500: backoff
    clock.advance(seconds=15)
    assert dispatcher.run_once().sent == 1
    row = reminders(sessions)[0]
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, None)
    assert actions(sessions).count("reminder.retry") == 2


def test_a_permanent_failure_escalates_at_once(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    def script(message: ReminderMessage) -> Delivery:
        if message.target.id == NURSE.user:
            return Delivery.failed("user_not_found")
        return Delivery.sent("D2", "2.2")

    notifier = RecordingNotifier(script)
    dispatcher = Dispatcher(
        sessions=sessions, clock=clock, protocol=services.protocol, notifier=notifier, who=WHO
    )
    code = new_case(services, clock)
    add_reminder(sessions, code, clock.now())
    report = dispatcher.run_once()
    assert report.failed >= 1
    assert CHARGE.user in {m.target.id for m in notifier.messages}
    assert ON_CALL in {m.target.id for m in notifier.messages}  # level 1 also hit the nurse
    row = reminders(sessions)[0]
    assert (row.state, row.level, row.last_error) == ("escalated", 2, None)
    with sessions() as session:
        failures = [
            e.detail
            for e in session.scalars(select(models.AuditEvent))
            if e.action == "reminder.delivery_failed"
        ]
    assert failures[0]["error"] == "user_not_found"
    assert failures[0]["transient"] is False


def test_a_crash_mid_delivery_is_delivered_again_by_reconcile_and_the_retry_recorded(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    code = new_case(services, clock)
    add_reminder(sessions, code, clock.now())

    class Crash(Exception):
        pass

    def crash(message: ReminderMessage) -> Delivery:
        raise Crash

    crashing = Dispatcher(
        sessions=sessions,
        clock=clock,
        protocol=services.protocol,
        notifier=RecordingNotifier(crash),
        who=WHO,
    )
    with pytest.raises(Crash):
        crashing.run_once()
    assert reminders(sessions)[0].state == "sending"
    clock.advance(seconds=30)
    report = dispatcher.reconcile()
    assert report.sent == 1
    row = reminders(sessions)[0]
    assert (row.state, row.attempts) == ("sent", 2)
    assert "reminder.retry" in actions(sessions)


def test_restart_across_due_times_sends_each_once_and_says_how_late(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    code = new_case(services, clock)
    start = clock.now()
    for minutes in (5, 10, 20):
        add_reminder(sessions, code, start + timedelta(minutes=minutes))
    clock.advance(minutes=22)  # the process was down
    report = dispatcher.reconcile()
    to_nurse = [m for m in notifier.messages if m.level == 0]
    assert sorted(m.reminder_id for m in to_nurse) == [r.id for r in reminders(sessions)]
    assert sorted(m.late_by for m in to_nurse) == [
        timedelta(minutes=2),
        timedelta(minutes=12),
        timedelta(minutes=17),
    ]
    assert sorted(report.lateness) == sorted(m.late_by for m in to_nurse)
    dispatcher.run_once()
    assert len([m for m in notifier.messages if m.level == 0]) == 3


@pytest.mark.parametrize(
    "local",
    [datetime(2027, 3, 14, 1, 50), datetime(2026, 11, 1, 1, 50)],
    ids=["spring-forward", "fall-back"],
)
def test_dst_changes_keep_utc_due_times_exact(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    local: datetime,
) -> None:
    """America/New_York: a reminder due at 01:50 local is sent at that UTC instant, and its
    escalation falls exactly 15 min later in UTC, even though the wall clock jumps."""
    due = local.replace(tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    clock.moment = due - timedelta(hours=1)
    code = new_case(services, clock)
    add_reminder(sessions, code, due)
    assert dispatcher.next_due_at() == due
    clock.moment = due - timedelta(microseconds=1)
    assert dispatcher.run_once().sent == 0
    clock.moment = due
    assert dispatcher.run_once().sent == 1
    assert reminders(sessions)[0].due_at == due
    assert dispatcher.next_due_at() == due + timedelta(minutes=15)
    clock.moment = due + timedelta(minutes=15)
    assert dispatcher.run_once().escalated == 1


def test_every_transition_is_audited_and_the_chain_holds(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    code = new_case(services, clock)
    reminder_id = add_reminder(sessions, code, clock.now())
    dispatcher.run_once()
    services.snooze_reminder(NURSE, reminder_id)
    clock.advance(minutes=15)
    dispatcher.run_once()
    services.acknowledge_reminder(NURSE, reminder_id)
    assert [a for a in actions(sessions) if a.startswith("reminder.")] == [
        "reminder.sending",
        "reminder.sent",
        "reminder.snoozed",
        "reminder.sending",
        "reminder.sent",
        "reminder.acknowledged",
    ]
    with sessions() as session:
        assert verify_chain(session).ok
        details = [e.detail for e in session.scalars(select(models.AuditEvent))]
    assert all("text" not in detail and "note" not in detail for detail in details)


# --- who may press -----------------------------------------------------------------------------


def test_buttons_check_role_and_assignment(
    services: Services, dispatcher: Dispatcher, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    reminder_id = add_reminder(sessions, code, clock.now())
    dispatcher.run_once()
    with pytest.raises(NotAssigned):
        services.acknowledge_reminder(OTHER_NURSE, reminder_id)  # a nurse of another unit
    with pytest.raises(Denied):
        services.acknowledge_reminder(Actor("U0NOBODY", "slack"), reminder_id)
    assert "denied:reminder.ack" in actions(sessions)
    assert services.snooze_reminder(CHARGE, reminder_id).changed  # the unit's charge nurse
    assert services.acknowledge_reminder(CLINICIAN, reminder_id).acknowledged_by == CLINICIAN.user


def test_the_console_notifier_prints_a_readable_line(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    stream = io.StringIO()
    dispatcher = Dispatcher(
        sessions=sessions,
        clock=clock,
        protocol=services.protocol,
        notifier=ConsoleNotifier(stream),
        who=lambda case: Contacts(case.nurses, None, None),
    )
    code = new_case(services, clock)
    add_reminder(sessions, code, clock.now() - timedelta(minutes=12))
    dispatcher.run_once()
    line = stream.getvalue().splitlines()[0]
    assert line.startswith(f"[reminder → @{NURSE.user}] Reminder ")
    assert f"{code} vitals and CRS check due at" in line
    assert "(12 min late)" in line


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_row_another_dispatcher_holds_is_skipped_not_waited_for(
    services: Services,
    dispatcher: Dispatcher,
    notifier: RecordingNotifier,
    sessions: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    """PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two dispatchers never claim the same row and
    neither blocks on the other. (SQLite has one dispatching process and a database lock.)"""
    code = new_case(services, clock)
    held = add_reminder(sessions, code, clock.now())
    free = add_reminder(sessions, code, clock.now())
    with sessions.begin() as other:
        other.execute(
            select(models.Reminder).where(models.Reminder.id == held).with_for_update()
        ).one()
        assert dispatcher.run_once().sent == 1
        assert [m.reminder_id for m in notifier.messages] == [free]
    assert dispatcher.run_once().sent == 1
    assert sorted(m.reminder_id for m in notifier.messages) == [held, free]


def test_acknowledged_while_being_delivered_the_row_stays_acknowledged(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The finish checks ``version``: a press during the Web API call wins, and the delivery is
    audited as superseded instead of overwriting it."""

    def press_during_delivery(message: ReminderMessage) -> Delivery:
        if message.level == 1:
            services.acknowledge_reminder(NURSE, message.reminder_id)
        return Delivery.sent("D1", "1.1")

    dispatcher = Dispatcher(
        sessions=sessions,
        clock=clock,
        protocol=services.protocol,
        notifier=RecordingNotifier(press_during_delivery),
        who=WHO,
    )
    code = new_case(services, clock)
    add_reminder(sessions, code, clock.now())
    dispatcher.run_once()
    clock.advance(minutes=15)
    report = dispatcher.run_once()
    assert (report.escalated, report.superseded) == (0, 1)
    row = reminders(sessions)[0]
    assert (row.state, row.acknowledged_by) == ("acknowledged", NURSE.user)
    clock.advance(hours=1)
    assert dispatcher.run_once().delivered == 0
    assert actions(sessions)[-2:] == ["reminder.acknowledged", "reminder.superseded"]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_row_locked_while_its_batch_finishes_is_finished_alone_after(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The batch's finish never waits for a row another transaction holds (``SKIP LOCKED``: no
    lock cycle with, say, a record resolving that case's reminders); the rest of the batch is
    finished, and that row on its own once it is free."""
    code = new_case(services, clock)
    first = add_reminder(sessions, code, clock.now())
    second = add_reminder(sessions, code, clock.now())
    holder = sessions()
    errors: list[BaseException] = []

    def lock(reminder_id: int) -> None:
        holder.execute(
            select(models.Reminder).where(models.Reminder.id == reminder_id).with_for_update()
        ).one()

    def then_want_the_first() -> None:
        try:
            lock(first)  # held by the finishing batch: a cycle if the batch waited for ours
            holder.commit()
        except BaseException as exc:
            errors.append(exc)

    waiter = threading.Timer(0.2, then_want_the_first)

    def lock_the_second_while_delivering(message: ReminderMessage) -> Delivery:
        if message.reminder_id == first:  # the claim has committed: the rows are free again
            lock(second)
            waiter.start()
        return Delivery.sent("D1", f"{message.reminder_id}.1")

    dispatcher = Dispatcher(
        sessions=sessions,
        clock=clock,
        protocol=services.protocol,
        notifier=RecordingNotifier(lock_the_second_while_delivering),
        who=WHO,
    )
    started = time.monotonic()
    report = dispatcher.run_once()
    waiter.join()
    holder.close()

    assert not errors, errors  # no deadlock: the batch never waited while holding its rows
    assert report.sent == 2
    assert time.monotonic() - started >= 0.2  # the second was finished after the lock went
    assert [row.state for row in reminders(sessions)] == ["sent", "sent"]
    assert actions(sessions).count("reminder.sent") == 2
    with sessions() as session:
        assert verify_chain(session).ok
