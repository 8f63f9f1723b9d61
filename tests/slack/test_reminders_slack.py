"""Reminders in Slack, end to end against the fake Web API on loopback (issue 6).

The dispatcher (injected clock) delivers through a :class:`SlackNotifier` built by
``make_slack_notifier`` over ``make_web_client`` (its own retries included); the buttons are
pressed with signed interactivity requests carrying the blocks toxbot posted, as Slack sends
them. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.app import make_web_client
from bot.db import models
from bot.db.engine import session_factory
from bot.services.api import OPERATOR
from bot.services.reminders import ReminderStatus
from grading.assessment import Assessment
from handlers import reminder_actions
from reminders import slack_notifier
from reminders.contacts import settings_contacts
from reminders.dispatcher import Dispatcher
from reminders.notifier import Delivery, Outcome, ReminderMessage, Role, Target
from reminders.slack_notifier import SlackNotifier, make_slack_notifier
from tests.slack.blockkit import assert_valid_message, assert_valid_view
from tests.slack.conftest import CLINICIAN, NURSE, STRANGER, SlackBot, bot_settings
from tests.slack.fake_slack import RATE_LIMITED, SERVER_ERROR, Call
from tests.slack.payloads import button_press, choice, interact, sent_payload, text, view_submission

CHARGE: Final = "U0CHARGE01"
OTHER_NURSE: Final = "U0NURSE002"  # a nurse of another unit, not assigned to the case
ON_CALL: Final = "C0ONCALL01"
UNIT: Final = "ICU-4"
DM: Final = "D0NURSE001"  # the fake's DM channel with NURSE


@dataclass
class Reminders:
    """The bot, with a dispatcher delivering through the Slack notifier."""

    bot: SlackBot
    dispatcher: Dispatcher
    notifier: SlackNotifier

    def add(self, *, kind: str = "reassess_vitals", due_in_min: float = 0) -> int:
        """A pending reminder for the case's nurse; its id."""
        now = self.bot.clock.now()
        with session_factory(self.bot.engine).begin() as session:
            case_id = session.scalar(
                select(models.Case.id).where(models.Case.code == self.bot.code)
            )
            assert case_id is not None
            row = models.Reminder(
                case_id=case_id,
                kind=kind,
                due_at=now + timedelta(minutes=due_in_min),
                state="pending",
                level=0,
                recipient=NURSE,
                attempts=0,
                version=1,
                policy_version="test",
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return row.id

    def row(self, reminder_id: int) -> models.Reminder:
        with session_factory(self.bot.engine)() as session:
            found = session.get(models.Reminder, reminder_id)
            assert found is not None
            session.expunge(found)
            return found

    def audits(self, action: str) -> int:
        with self.bot.engine.connect() as connection:
            query = select(func.count()).where(models.AuditEvent.action == action)
            return int(connection.execute(query).scalar_one())

    def press(self, action_id: str, post: Call, *, user: str = NURSE) -> Any:
        """Press ``action_id`` on the message ``post`` put in Slack, as ``user``."""
        blocks = sent_payload(post.args)["blocks"]
        (value,) = [
            element["value"]
            for block in blocks
            if block["type"] == "actions"
            for element in block["elements"]
            if element["action_id"] == action_id
        ]
        channel, ts = post.answer["channel"], post.answer["ts"]
        payload = button_press(action_id, value, user=user, channel=channel, message_ts=ts)
        payload["message"]["blocks"] = blocks
        response = interact(self.bot.sender, payload)
        assert response.status == 200
        return response


@pytest.fixture
def reminders(bot: SlackBot) -> Reminders:
    with session_factory(bot.engine).begin() as session:
        session.execute(
            update(models.Case)
            .where(models.Case.code == bot.code)
            .values(nurses=[NURSE], unit=UNIT)
        )
    bot.services.set_role(OPERATOR, OTHER_NURSE, "nurse")
    settings = bot_settings(bot.fake.url)
    client = make_web_client(settings, backoff_s=0.01)
    notifier = make_slack_notifier(settings, protocol=bot.services.protocol, client=client)
    assert notifier is not None
    dispatcher = Dispatcher(
        sessions=session_factory(bot.engine),
        clock=bot.clock,
        protocol=bot.services.protocol,
        notifier=notifier,
        who=settings_contacts({UNIT: CHARGE}, ON_CALL),
    )
    return Reminders(bot, dispatcher, notifier)


def _posts(bot: SlackBot) -> list[Call]:
    return bot.fake.of("chat.postMessage")


def _buttons(call: Call) -> list[str]:
    blocks = sent_payload(call.args)["blocks"]
    return [
        element["action_id"]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def _message(reminder_id: int, target: Target, **fields: Any) -> ReminderMessage:
    values: dict[str, Any] = {
        "reminder_id": reminder_id,
        "case_code": "CT-TEST",
        "kind": "reassess_vitals",
        "due_at": datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        "level": 0,
        "target": target,
        "late_by": timedelta(0),
        "overdue": False,
        **fields,
    }
    return ReminderMessage(**values)


# ---------------------------------------------------------------------------------------------
# Delivery


def test_a_due_reminder_is_a_dm_with_the_three_buttons_and_valid_block_kit(
    reminders: Reminders,
) -> None:
    bot = reminders.bot
    reminder_id = reminders.add()
    report = reminders.dispatcher.run_once()

    assert report.sent == 1
    (opened,) = bot.fake.of("conversations.open")
    assert opened.args["users"] == NURSE
    (post,) = _posts(bot)
    assert post.args["channel"] == DM
    payload = sent_payload(post.args)
    assert_valid_message(payload)
    assert _buttons(post) == ["reminder.ack", "reminder.snooze", "reminder.assess"]
    shown = json.dumps(payload)
    assert bot.code in shown
    assert "vitals and CRS check" in shown
    assert "on time" in shown
    assert "Snooze 15 min" in shown
    row = reminders.row(reminder_id)
    assert (row.state, row.slack_channel, row.slack_ts) == ("sent", DM, post.answer["ts"])


def test_a_late_delivery_says_how_late_and_the_last_grades(reminders: Reminders) -> None:
    bot = reminders.bot
    fields = {"temperature_c": 39.4, "hypotension": True, "vasopressors": 0}
    graded = Assessment.model_validate(
        {**fields, "vasopressin": False, "oxygen": {"device": "room_air"}}
    )
    bot.services.record_assessment(OPERATOR, bot.code, graded)
    reminder_id = reminders.add(due_in_min=-12)  # after the record, which resolves open ones

    reminders.dispatcher.run_once()

    post = next(p for p in _posts(bot) if f"Reminder {reminder_id}" in json.dumps(p.args))
    shown = json.dumps(sent_payload(post.args))
    assert "12 min late" in shown
    assert "Last grades: CRS 2" in shown, shown


# ---------------------------------------------------------------------------------------------
# Buttons


def test_acknowledge_updates_the_message_and_stops_escalation(reminders: Reminders) -> None:
    bot = reminders.bot
    reminder_id = reminders.add()
    reminders.dispatcher.run_once()
    (post,) = _posts(bot)

    reminders.press("reminder.ack", post)
    reminders.press("reminder.ack", post)  # pressed twice: nothing more changes

    first, second = bot.fake.wait_for("chat.update", 2)
    assert (first.args["channel"], first.args["ts"]) == (DM, post.answer["ts"])
    assert f"Acknowledged by <@{NURSE}> at 08:00 UTC" in json.dumps(first.args["blocks"])
    assert first.args["blocks"] == second.args["blocks"]
    assert_valid_message(sent_payload(first.args))
    assert _buttons(first) == ["reminder.assess"]  # the assessment is still to enter
    row = reminders.row(reminder_id)
    assert (row.state, row.acknowledged_by) == ("acknowledged", NURSE)
    assert reminders.audits("reminder.acknowledged") == 1

    bot.clock.advance(minutes=90)  # past every escalation and overdue threshold
    report = reminders.dispatcher.run_once()

    assert report.delivered == 0
    assert len(_posts(bot)) == 1
    assert reminders.row(reminder_id).state == "acknowledged"


def test_snooze_twice_then_the_third_is_refused(reminders: Reminders) -> None:
    bot = reminders.bot
    reminder_id = reminders.add()
    reminders.dispatcher.run_once()
    (first_post,) = _posts(bot)

    reminders.press("reminder.snooze", first_post)
    (update_call,) = bot.fake.wait_for("chat.update")
    assert "Snoozed by" in json.dumps(update_call.args["blocks"])
    assert "until 08:15 UTC" in json.dumps(update_call.args["blocks"])
    assert_valid_message(sent_payload(update_call.args))
    assert reminders.row(reminder_id).snooze_count == 1

    bot.clock.advance(minutes=15)
    reminders.dispatcher.run_once()  # the snooze ended: sent again, one snooze left
    second_post = _posts(bot)[-1]
    assert "reminder.snooze" in _buttons(second_post)
    reminders.press("reminder.snooze", second_post)
    bot.fake.wait_for("chat.update", 2)
    assert reminders.row(reminder_id).snooze_count == 2

    bot.clock.advance(minutes=15)
    reminders.dispatcher.run_once()  # sent again (overdue by now): no snooze left to offer
    assert "reminder.snooze" not in _buttons(_posts(bot)[-1])
    posted = len(_posts(bot))  # counted first: the note may arrive before the press returns
    reminders.press("reminder.snooze", first_post)  # an old message's button

    (note,) = bot.fake.wait_for("chat.postMessage", posted + 1)[-1:]
    assert "Already snoozed 2 times" in note.args["text"]
    assert len(bot.fake.of("chat.update")) == 2  # the refusal is told, the message left alone
    assert reminders.row(reminder_id).snooze_count == 2
    assert reminders.audits("reminder.snoozed") == 2


def test_a_forwarded_button_pressed_without_the_role_or_assignment_is_refused_and_audited(
    reminders: Reminders,
) -> None:
    bot = reminders.bot
    reminder_id = reminders.add()
    reminders.dispatcher.run_once()
    (post,) = _posts(bot)

    reminders.press("reminder.ack", post, user=STRANGER)  # no role at all
    reminders.press("reminder.ack", post, user=OTHER_NURSE)  # a nurse, not of this case

    notes = bot.fake.wait_for("chat.postMessage", 3)[1:]
    said = " ".join(str(note.args["text"]) for note in notes)
    assert "Not allowed" in said
    assert "case's nurses, its unit, or a clinician" in said
    assert bot.denials("reminder.ack") == 2
    assert reminders.row(reminder_id).state == "sent"
    assert bot.fake.of("chat.update") == []

    reminders.press("reminder.assess", post, user=STRANGER)  # no role to record either
    bot.fake.wait_for("chat.postMessage", 4)
    assert bot.denials("assessment.record") == 1
    assert bot.fake.of("views.open") == []

    reminders.press("reminder.ack", post, user=CLINICIAN)  # a clinician may
    bot.fake.wait_for("chat.update")
    assert reminders.row(reminder_id).acknowledged_by == CLINICIAN


def test_enter_assessment_opens_the_form_and_the_recorded_assessment_resolves_it(
    reminders: Reminders,
) -> None:
    bot = reminders.bot
    reminder_id = reminders.add()
    reminders.dispatcher.run_once()
    (post,) = _posts(bot)

    reminders.press("reminder.assess", post)

    opened = bot.fake.wait_for("views.open")[-1]
    view = {**opened.args["view"], "id": opened.answer["view"]["id"]}
    assert_valid_view(view)
    assert json.loads(view["private_metadata"])["case"] == bot.code
    values = {"temp": text("38.2"), "temp_unit": choice("C")}
    response = interact(bot.sender, view_submission(view, values, user=NURSE))

    assert response.status == 200
    assert reminders.row(reminder_id).state == "resolved"


# ---------------------------------------------------------------------------------------------
# Web API failures


def test_a_429_with_retry_after_0_is_retried_and_delivered(reminders: Reminders) -> None:
    bot = reminders.bot
    reminder_id = reminders.add()
    bot.fake.fail("chat.postMessage", RATE_LIMITED, retry_after=0)

    report = reminders.dispatcher.run_once()

    assert report.sent == 1
    assert len(_posts(bot)) == 2  # the 429, then the retry
    assert reminders.row(reminder_id).state == "sent"


def test_a_429_that_outlasts_the_client_retries_is_a_retry_after_slacks_delay(
    reminders: Reminders,
) -> None:
    reminders.bot.fake.fail("chat.postMessage", RATE_LIMITED, times=3, retry_after=0)

    delivery = reminders.notifier.deliver(_message(1, Target("channel", ON_CALL, Role.ON_CALL)))

    assert delivery == Delivery.retry("ratelimited", retry_after=0.0)


def test_500s_are_retried_by_the_client_then_by_the_dispatcher(reminders: Reminders) -> None:
    bot = reminders.bot
    reminder_id = reminders.add()
    bot.fake.fail("chat.postMessage", SERVER_ERROR, times=3)  # more than the client retries

    first = reminders.dispatcher.run_once()

    assert (first.sent, first.retried) == (0, 1)
    row = reminders.row(reminder_id)
    assert (row.state, row.last_error) == ("sending", "http_500")

    bot.clock.advance(seconds=5)  # the dispatcher's first backoff
    second = reminders.dispatcher.run_once()

    assert second.sent == 1
    assert reminders.row(reminder_id).state == "sent"


def test_user_not_found_fails_and_escalates_at_once_to_charge_nurse_and_on_call(
    reminders: Reminders, caplog: pytest.LogCaptureFixture
) -> None:
    bot = reminders.bot
    reminder_id = reminders.add()
    bot.fake.fail("conversations.open", "user_not_found")

    delivery = reminders.notifier.deliver(
        _message(reminder_id, Target("user", NURSE, Role.RECIPIENT))
    )
    assert (delivery.outcome, delivery.error) == (Outcome.FAILED, "user_not_found")

    # The nurse is gone: level 0 fails, so does level 1's repeat to her (its DM to the charge
    # nurse goes out), so the on-call channel is told, all in one pass.
    bot.fake.fail("conversations.open", "user_not_found", times=2)
    with caplog.at_level(logging.INFO):
        report = reminders.dispatcher.run_once()  # the clock does not move

    assert report.failed == 2
    opened_for = [call.args["users"] for call in bot.fake.of("conversations.open")]
    assert CHARGE in opened_for
    channels = [call.args["channel"] for call in _posts(bot)]
    assert "D0CHARGE01" in channels
    assert ON_CALL in channels
    row = reminders.row(reminder_id)
    assert (row.state, row.level) == ("escalated", 2)
    assert reminders.audits("reminder.delivery_failed") == 2  # level 0 and level 1's repeat
    for post in _posts(bot):
        assert_valid_message(sent_payload(post.args))
    assert "user_not_found" in caplog.text
    assert bot.code not in caplog.text  # logs carry ids and codes, never the case or grades
    assert "CRS" not in caplog.text


# ---------------------------------------------------------------------------------------------
# /tox due


def test_tox_due_shows_due_time_state_level_and_lateness(reminders: Reminders) -> None:
    bot = reminders.bot
    late = reminders.add(due_in_min=-40)  # overdue: sent, then to the charge nurse at once
    later = reminders.add(kind="reassess_neuro", due_in_min=90)
    reminders.dispatcher.run_once()
    assert reminders.row(late).level == 1
    assert reminders.row(later).state == "pending"

    mine = bot.sender.command("due", user=NURSE).json()["text"]
    case = bot.sender.command(f"due {bot.code}", user=CLINICIAN).json()

    assert "Open reminders for you: 2" in mine
    assert_valid_message(case)
    shown = json.dumps(case)
    assert f"2026-11-20 07:20 UTC  {bot.code}  vitals with a CRS check  (escalated, level 1, " in (
        shown
    )
    assert "overdue, 40 min late)" in shown
    assert (
        f"2026-11-20 09:30 UTC  {bot.code}  neuro screen (ICE/CAPD)  (pending, in 1 h 30 min)"
        in (shown)
    )


def test_a_refused_connection_is_a_retry() -> None:
    settings = bot_settings("http://127.0.0.1:9/api/")  # nothing listens on port 9
    notifier = SlackNotifier(client=make_web_client(settings, backoff_s=0.01))

    delivery = notifier.deliver(_message(1, Target("user", NURSE, Role.RECIPIENT)))

    assert delivery.outcome is Outcome.RETRY
    assert delivery.error


# ---------------------------------------------------------------------------------------------
# The message


def test_an_escalation_names_the_nurse_not_reached_and_offers_no_snooze_when_none_is_left() -> None:
    message = _message(
        7,
        Target("channel", ON_CALL, Role.ON_CALL),
        level=2,
        overdue=True,
        recipient=NURSE,
        crs_grade=3,
        icans_grade=1,
        late_by=timedelta(hours=1, minutes=5),
    )

    payload = slack_notifier.reminder_blocks(message)

    assert_valid_message(payload)
    shown = json.dumps(payload)
    assert "Reassessment overdue: CT-TEST" in shown
    assert f"Not acknowledged by <@{NURSE}>: on-call told." in shown
    assert "Last grades: CRS 3, ICANS 1" in shown
    assert "1 h 5 min late" in shown
    assert "reminder.snooze" not in shown


def test_nothing_but_a_slack_user_id_becomes_a_mention() -> None:
    message = _message(
        8, Target("channel", ON_CALL, Role.ON_CALL), level=1, recipient="<!channel> *x*"
    )

    shown = json.dumps(slack_notifier.reminder_blocks(message))

    assert "<!channel>" not in shown
    assert "&lt;!channel&gt;" in shown


def test_a_press_on_a_message_without_its_blocks_still_redraws_a_valid_message() -> None:
    done = ReminderStatus(
        reminder_id=9,
        case_code="CT-TEST",
        kind="reassess_vitals",
        state="acknowledged",
        level=0,
        acknowledged_by="<!here>",  # not a Slack user id: shown as text
        acknowledged_at=datetime(2026, 11, 20, 14, 5, tzinfo=UTC),
        snooze_count=0,
        snoozed_until=None,
        changed=True,
    )

    payload = reminder_actions.updated_message(
        {}, done, by="U0NURSE001", zone=ZoneInfo("Europe/Paris"), max_snoozes=2
    )

    assert_valid_message(payload)
    shown = json.dumps(payload)
    assert "Acknowledged by &lt;!here&gt; at 15:05 CET" in shown
    assert "<!here>" not in shown


# ---------------------------------------------------------------------------------------------
# Wiring


def test_the_action_ids_on_both_sides_of_the_wall_agree() -> None:
    for name in ("ACK_ACTION", "SNOOZE_ACTION", "ASSESS_ACTION", "ACTIONS_BLOCK", "STATUS_BLOCK"):
        assert getattr(slack_notifier, name) == getattr(reminder_actions, name)


def test_no_slack_token_means_no_slack_notifier() -> None:
    settings = bot_settings("http://127.0.0.1:9/api/").model_copy(update={"slack_bot_token": None})

    assert make_slack_notifier(settings) is None
