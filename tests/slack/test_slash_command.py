"""``/tox`` over signed HTTP: grades in the ack itself, the full reply in the case's thread."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.db import models
from tests.slack.blockkit import assert_valid_message, assert_valid_view
from tests.slack.conftest import CLINICIAN, LEAD, NURSE, STRANGER, WARD, SlackBot
from tests.slack.payloads import sent_payload

ASSESS = "temp=39.4 pressors=1 o2=nc:3 ice=7"


def _ack(response: Any) -> dict[str, Any]:
    assert response.status == 200, response.body
    body: dict[str, Any] = response.json()
    assert body["response_type"] == "ephemeral"
    assert_valid_message(body)
    return body


def _thread(bot: SlackBot) -> tuple[str | None, str | None]:
    with bot.engine.connect() as connection:
        row = connection.execute(
            select(models.Case.slack_channel, models.Case.slack_thread_ts).where(
                models.Case.code == bot.code
            )
        ).one()
    return row.slack_channel, row.slack_thread_ts


def test_assess_answers_with_the_grades_in_the_ack_and_posts_the_reply_in_a_new_case_thread(
    bot: SlackBot,
) -> None:
    ack = _ack(bot.sender.command(f"assess {bot.code} {ASSESS}", user=CLINICIAN))

    assert "CRS grade 3" in ack["text"]
    assert bot.code in ack["text"]
    root, reply = bot.fake.wait_for("chat.postMessage", 2)
    assert root.args["channel"] == WARD
    assert "thread_ts" not in root.args
    assert reply.args["channel"] == WARD
    for call in (root, reply):
        assert_valid_message(sent_payload(call.args))
    assert "CRS grade 3" in reply.args["text"]
    channel, ts = _thread(bot)
    assert channel == WARD
    assert reply.args["thread_ts"] == ts
    assert bot.rows(models.Assessment) == 1


def test_a_second_assessment_goes_to_the_same_thread_without_a_new_root(bot: SlackBot) -> None:
    _ack(bot.sender.command(f"assess {bot.code} {ASSESS}", user=CLINICIAN))
    bot.fake.wait_for("chat.postMessage", 2)
    bot.clock.advance(hours=2)

    _ack(bot.sender.command(f"assess {bot.code} temp=38.2 bp=normal o2=ra", user=NURSE))

    posts = bot.fake.wait_for("chat.postMessage", 3)
    _, ts = _thread(bot)
    assert posts[2].args["thread_ts"] == ts
    assert bot.rows(models.Assessment) == 2


def test_give_records_the_dose_and_posts_the_ledger_in_the_thread(bot: SlackBot) -> None:
    ack = _ack(bot.sender.command(f"give {bot.code} tocilizumab 592mg route=iv", user=NURSE))

    assert "tocilizumab" in ack["text"].lower()
    posts = bot.fake.wait_for("chat.postMessage", 2)
    assert_valid_message(sent_payload(posts[1].args))
    assert bot.rows(models.Dose) == 1


def test_assess_without_fields_opens_the_assessment_form(bot: SlackBot) -> None:
    response = bot.sender.command(f"assess {bot.code}", user=CLINICIAN)

    assert response.status == 200
    assert response.body == b""
    (opened,) = bot.fake.wait_for("views.open")
    assert_valid_view(opened.args["view"])
    assert opened.args["view"]["callback_id"] == "assess.modal"
    assert bot.rows(models.Assessment) == 0


def test_no_form_opens_for_a_case_code_that_names_no_case(bot: SlackBot) -> None:
    ack = _ack(bot.sender.command("assess CT-NOPE", user=CLINICIAN))

    assert "No case CT-NOPE" in ack["text"]
    assert bot.fake.of("views.open") == []
    assert bot.rows(models.Assessment) == 0


def test_no_form_opens_for_a_closed_case(bot: SlackBot) -> None:
    from bot.services.api import OPERATOR

    bot.services.close_case(OPERATOR, bot.code, outcome="recovered")

    ack = _ack(bot.sender.command(f"assess {bot.code}", user=CLINICIAN))

    assert f"Case {bot.code} is closed" in ack["text"]
    assert bot.fake.of("views.open") == []


def test_help_answers_ephemerally(bot: SlackBot) -> None:
    ack = _ack(bot.sender.command("help", user=STRANGER))

    assert "/tox" in str(ack["blocks"])


def test_a_nurse_asking_for_the_report_is_refused_and_the_denial_audited(bot: SlackBot) -> None:
    ack = _ack(bot.sender.command("report", user=NURSE))

    assert "Not allowed" in ack["text"]
    assert bot.denials("report.view") == 1
    lead = _ack(bot.sender.command("report", user=LEAD))
    assert "Not allowed" not in lead["text"]


def test_someone_without_a_role_records_nothing_and_is_audited(bot: SlackBot) -> None:
    ack = _ack(bot.sender.command(f"assess {bot.code} {ASSESS}", user=STRANGER))

    assert "Not allowed" in ack["text"]
    assert bot.rows(models.Assessment) == 0
    assert bot.denials("assessment.record") == 1
    assert bot.fake.of("chat.postMessage") == []


def test_a_form_is_not_opened_for_someone_whose_role_cannot_record(bot: SlackBot) -> None:
    ack = _ack(bot.sender.command(f"assess {bot.code}", user=STRANGER))

    assert "Not allowed" in ack["text"]
    assert bot.fake.of("views.open") == []
    assert bot.denials("assessment.record") == 1
