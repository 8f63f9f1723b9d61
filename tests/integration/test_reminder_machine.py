"""A hypothesis state machine over the reminder engine, on SQLite and PostgreSQL (issue 6).

Steps: create a reminder, advance the clock, sweep (the scheduler's 30 s pass), acknowledge,
snooze, resolve (record an assessment), crash mid-delivery (rows left ``sending``), restart
(reconcile), and switch the fake Slack between working, transient and permanent failures.

Invariants after every step:

* an acknowledged reminder never escalates and is never delivered again;
* after a sweep nothing due is left unsent (pending and past due, or awake and past its time);
* every transition is audited: replaying a reminder's audit events gives its state and level
  (a resolution is the case's ``assessment.record`` event);
* every delivery attempt was claimed and audited first (``reminder.sending``/``reminder.retry``),
  so a repeat happens only where a retry is recorded.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import models
from bot.protocol_files import load_protocol
from bot.services.api import Actor, Services
from bot.services.members import Role, set_role
from grading import parse_assessment
from reminders.contacts import settings_contacts
from reminders.dispatcher import Dispatcher
from reminders.notifier import Delivery, ReminderMessage
from tests.integration.conftest import FakeClock
from tests.reminder_fakes import RecordingNotifier

NURSE = Actor("U0NURSE1", "slack")
CLINICIAN = Actor("U0DOC001", "slack")
UNIT = "4 West"
WHO = settings_contacts({UNIT: "U0CHARGE"}, "C0ONCALL")
TABLES = (models.AuditEvent, models.Reminder, models.Assessment, models.Case, models.Member)
OPEN_STATES = {"pending", "sending", "sent", "snoozed", "escalated"}


class Crash(Exception):
    """The process died mid-delivery."""


def replay(events: list[models.AuditEvent]) -> tuple[str | None, int]:
    """A reminder's state and level as its audit events tell them."""
    state: str | None = "pending"
    level = 0
    for event in events:
        detail = event.detail
        match event.action:
            case "reminder.sending" | "reminder.retry":
                state, level = "sending", detail["level"]
            case "reminder.sent":
                state, level = "sent", 0
            case "reminder.escalated":
                state, level = "escalated", detail["level"]
            case "reminder.delivery_failed" if detail["transient"]:
                state = "sending"
            case "reminder.delivery_failed" if detail["escalate_to"] is not None:
                state, level = "sending", detail["escalate_to"]
            case "reminder.delivery_failed":
                state = "escalated"
            case "reminder.snoozed":
                state = "snoozed"
            case "reminder.acknowledged":
                state = "acknowledged"
    return state, level


def machine_for(sessions: sessionmaker[Session]) -> type[RuleBasedStateMachine]:
    class ReminderMachine(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            with sessions.begin() as session:
                for table in TABLES:
                    session.execute(delete(table))
            self.clock = FakeClock()
            with sessions.begin() as session:
                for actor, role in ((NURSE, Role.NURSE), (CLINICIAN, Role.CLINICIAN)):
                    set_role(
                        session,
                        actor="setup",
                        target=actor.user,
                        role=role,
                        unit=UNIT,
                        at=self.clock.now(),
                    )
            protocol = load_protocol(environ={})
            self.services = Services(sessions=sessions, clock=self.clock, protocol=protocol)
            self.mode = "ok"
            self.notifier = RecordingNotifier(self._answer)
            self.dispatcher = Dispatcher(
                sessions=sessions,
                clock=self.clock,
                protocol=protocol,
                notifier=self.notifier,
                who=WHO,
            )
            data: dict[str, Any] = {
                "product": "axi-cel",
                "infused_at": self.clock.now() - timedelta(days=2),
                "weight_kg": 72,
                "unit": UNIT,
                "nurses": [NURSE.user],
            }
            self.code = self.services.register_case(CLINICIAN, data).code
            self.acked: dict[int, int] = {}  # reminder id -> messages delivered before the ack
            self.swept = False

        def _answer(self, message: ReminderMessage) -> Delivery:
            if self.mode == "transient":
                return Delivery.retry("http_500")
            if self.mode == "permanent" and message.target.id == NURSE.user:
                return Delivery.failed("user_not_found")
            return Delivery.sent("D1", f"{message.reminder_id}.{message.attempt}")

        def _ids(self) -> list[int]:
            with sessions() as session:
                return list(
                    session.scalars(select(models.Reminder.id).order_by(models.Reminder.id))
                )

        def _row(self, reminder_id: int) -> models.Reminder:
            with sessions() as session:
                return session.get_one(models.Reminder, reminder_id)

        # --- steps ------------------------------------------------------------------------

        @rule(minutes=st.integers(min_value=-40, max_value=90))
        def create(self, minutes: int) -> None:
            with sessions.begin() as session:
                case = session.scalars(
                    select(models.Case).where(models.Case.code == self.code)
                ).one()
                now = self.clock.now()
                session.add(
                    models.Reminder(
                        case_id=case.id,
                        kind="reassess_vitals",
                        due_at=now + timedelta(minutes=minutes),
                        state="pending",
                        level=0,
                        recipient=NURSE.user,
                        attempts=0,
                        version=1,
                        policy_version="test",
                        created_at=now,
                        updated_at=now,
                    )
                )
            self.swept = False

        @rule(seconds=st.integers(min_value=1, max_value=1800))
        def advance(self, seconds: int) -> None:
            self.clock.advance(seconds=seconds)
            self.swept = False

        @rule()
        def sweep(self) -> None:
            self.dispatcher.run_once()
            self.swept = True

        @rule(mode=st.sampled_from(["ok", "ok", "transient", "permanent"]))
        def slack(self, mode: str) -> None:
            self.mode = mode

        @precondition(lambda self: bool(self._ids()))
        @rule(data=st.data())
        def acknowledge(self, data: st.DataObject) -> None:
            reminder_id = data.draw(st.sampled_from(self._ids()))
            before = self._row(reminder_id)
            status = self.services.acknowledge_reminder(NURSE, reminder_id)
            if before.state in OPEN_STATES:
                assert (status.state, status.acknowledged_by) == ("acknowledged", NURSE.user)
                assert status.changed
            else:
                assert (status.state, status.changed) == (before.state, False)
            if status.state == "acknowledged" and reminder_id not in self.acked:
                self.acked[reminder_id] = len(
                    [m for m in self.notifier.messages if m.reminder_id == reminder_id]
                )
            self.swept = False

        @precondition(lambda self: bool(self._ids()))
        @rule(data=st.data())
        def snooze(self, data: st.DataObject) -> None:
            reminder_id = data.draw(st.sampled_from(self._ids()))
            before = self._row(reminder_id)
            status = self.services.snooze_reminder(NURSE, reminder_id)
            allowed = before.state in {"sending", "sent", "escalated"} and before.snooze_count < 2
            assert status.changed is allowed
            if allowed:
                assert status.state == "snoozed"
                assert status.snoozed_until == self.clock.now() + timedelta(minutes=15)
            elif before.state in {"sending", "sent", "escalated"}:
                assert status.refusal is not None
            self.swept = False

        @rule()
        def resolve(self) -> None:
            parsed = parse_assessment("temp=38.2 o2=ra ice=10")
            self.services.record_assessment(NURSE, self.code, parsed.assessment)
            self.swept = False

        @rule()
        def crash(self) -> None:
            def die(message: ReminderMessage) -> Delivery:
                self.notifier.messages.append(message)  # it may have reached Slack
                raise Crash

            dying = Dispatcher(
                sessions=sessions,
                clock=self.clock,
                protocol=self.services.protocol,
                notifier=RecordingNotifier(die),
                who=WHO,
            )
            with contextlib.suppress(Crash):
                dying.run_once()
            self.swept = False

        @rule()
        def restart(self) -> None:
            self.dispatcher.reconcile()
            self.swept = True

        # --- invariants -------------------------------------------------------------------

        @invariant()
        def acknowledged_never_escalates(self) -> None:
            with sessions() as session:
                for reminder_id, delivered in self.acked.items():
                    row = session.get_one(models.Reminder, reminder_id)
                    assert row.state == "acknowledged"
                    later = [m for m in self.notifier.messages if m.reminder_id == reminder_id]
                    assert len(later) == delivered

        @invariant()
        def nothing_due_left_unsent_after_a_sweep(self) -> None:
            if not self.swept:
                return
            now = self.clock.now()
            with sessions() as session:
                for row in session.scalars(select(models.Reminder)):
                    if row.state == "pending":
                        assert row.due_at > now, row.id
                    elif row.state in OPEN_STATES and row.wake_at is not None:
                        assert row.wake_at > now, (row.id, row.state)

        @invariant()
        def every_transition_is_audited(self) -> None:
            with sessions() as session:
                events = list(
                    session.scalars(select(models.AuditEvent).order_by(models.AuditEvent.id))
                )
                rows = list(session.scalars(select(models.Reminder)))
            by_reminder: dict[str, list[models.AuditEvent]] = {}
            for event in events:
                if event.object_type == "reminder" and event.object_id is not None:
                    by_reminder.setdefault(event.object_id, []).append(event)
            records = [e.id for e in events if e.action == "assessment.record"]
            for row in rows:
                own = by_reminder.get(str(row.id), [])
                if row.state == "resolved":
                    assert records, row.id
                    assert not own or records[-1] > own[-1].id, row.id
                    continue
                state, level = replay(own)
                assert (state, level) == (row.state, row.level), row.id

        @invariant()
        def every_delivery_was_claimed_and_audited_first(self) -> None:
            with sessions() as session:
                claims = Counter(
                    event.object_id
                    for event in session.scalars(select(models.AuditEvent))
                    if event.action in ("reminder.sending", "reminder.retry")
                )
            per_claim: dict[tuple[int, int], set[str]] = {}
            for message in self.notifier.messages:
                per_claim.setdefault((message.reminder_id, message.attempt), set()).add(
                    message.target.id
                )
            attempts = Counter(str(reminder_id) for reminder_id, _ in per_claim)
            for reminder_id, count in attempts.items():
                assert count <= claims[reminder_id], reminder_id

    return ReminderMachine


def test_the_reminder_engine_keeps_its_invariants(sessions: sessionmaker[Session]) -> None:
    run_state_machine_as_test(
        machine_for(sessions),
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
