"""Buttons and forms: Reassess and Record dose open forms, submissions record or point at the
field to fix, Summary shows the summary, and a forwarded button is re-checked for its presser."""

from __future__ import annotations

from typing import Any

from bot.db import models
from tests.slack.blockkit import assert_valid_message, assert_valid_view
from tests.slack.conftest import CLINICIAN, NURSE, STRANGER, WARD, SlackBot
from tests.slack.payloads import (
    button_press,
    choice,
    interact,
    number,
    sent_payload,
    text,
    view_submission,
)


def _open(bot: SlackBot, action_id: str, user: str = CLINICIAN) -> dict[str, Any]:
    response = interact(bot.sender, button_press(action_id, bot.code, user=user))
    assert response.status == 200
    opened = bot.fake.wait_for("views.open")[-1]
    view: dict[str, Any] = opened.args["view"]
    assert_valid_view(view)
    return {**view, "id": opened.answer["view"]["id"]}  # Slack gives the view its id


def test_reassess_opens_the_form_and_a_submission_is_recorded_in_the_case_thread(
    bot: SlackBot,
) -> None:
    view = _open(bot, "assess.open")
    values = {
        "temp": text("39.4"),
        "temp_unit": choice("C"),
        "bp": choice("low"),
        "o2_device": choice("ra"),
    }

    response = interact(bot.sender, view_submission(view, values, user=CLINICIAN))

    assert response.status == 200
    assert response.body == b""  # the form closes
    root, reply = bot.fake.wait_for("chat.postMessage", 2)
    assert root.args["channel"] == WARD  # where the button was pressed
    assert "CRS grade 2" in reply.args["text"]
    assert_valid_message(sent_payload(reply.args))
    assert bot.rows(models.Assessment) == 1


def test_a_form_value_that_cannot_be_read_is_shown_on_its_field_and_nothing_stored(
    bot: SlackBot,
) -> None:
    view = _open(bot, "assess.open")
    values = {"temp": text("39.4"), "ice_orientation": choice("4")}  # no unit; ICE incomplete

    response = interact(bot.sender, view_submission(view, values, user=CLINICIAN))

    assert response.status == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert "temp_unit" in answer["errors"]
    assert "ice_naming" in answer["errors"]
    assert bot.rows(models.Assessment) == 0


def test_the_same_submission_delivered_twice_records_once(bot: SlackBot) -> None:
    view = _open(bot, "assess.open")
    payload = view_submission(
        view, {"temp": text("38.5"), "temp_unit": choice("C")}, user=CLINICIAN
    )

    interact(bot.sender, payload)
    interact(bot.sender, payload)

    assert bot.rows(models.Assessment) == 1


def test_record_dose_opens_the_dose_form_and_records_the_dose(bot: SlackBot) -> None:
    view = _open(bot, "dose.open", user=NURSE)
    values = {"drug": choice("tocilizumab"), "dose_mg": number("592"), "route": choice("iv")}

    response = interact(bot.sender, view_submission(view, values, user=NURSE))

    assert response.status == 200
    bot.fake.wait_for("chat.postMessage", 2)
    assert bot.rows(models.Dose) == 1


def test_a_dose_form_without_a_drug_points_at_the_drug(bot: SlackBot) -> None:
    view = _open(bot, "dose.open", user=NURSE)

    response = interact(bot.sender, view_submission(view, {"dose_mg": number("5")}, user=NURSE))

    assert response.json()["response_action"] == "errors"
    assert "drug" in response.json()["errors"]
    assert bot.rows(models.Dose) == 0


def test_a_refused_submission_replaces_the_form_with_the_reason(bot: SlackBot) -> None:
    view = _open(bot, "assess.open")
    bot.services.close_case(_operator(), bot.code, outcome="recovered")

    values = {"temp": text("38.5"), "temp_unit": choice("C")}
    response = interact(bot.sender, view_submission(view, values, user=CLINICIAN))

    answer = response.json()
    assert answer["response_action"] == "update"
    assert_valid_view(answer["view"])
    assert "closed" in str(answer["view"]["blocks"])
    assert bot.rows(models.Assessment) == 0


def test_summary_posts_the_summary_once_per_press(bot: SlackBot) -> None:
    press = button_press("summary.show", bot.code, user=NURSE, message_ts="1700000200.000200")

    interact(bot.sender, press)
    interact(bot.sender, press)  # the same press delivered twice

    calls = bot.fake.wait_for("chat.postEphemeral") + bot.fake.of("chat.postMessage")
    assert len([c for c in calls if bot.code in str(c.args.get("text"))]) == 1
    assert_valid_message(sent_payload(calls[0].args))


def test_a_forwarded_button_is_checked_against_whoever_presses_it(bot: SlackBot) -> None:
    response = interact(bot.sender, button_press("dose.open", bot.code, user=STRANGER))

    assert response.status == 200
    (note,) = bot.fake.wait_for("chat.postEphemeral")
    assert note.args["user"] == STRANGER
    assert "Not allowed" in note.args["text"]
    assert bot.fake.of("views.open") == []
    assert bot.denials("dose.record") == 1


def test_the_reassess_button_of_a_closed_case_says_so_instead_of_opening_a_form(
    bot: SlackBot,
) -> None:
    bot.services.close_case(_operator(), bot.code, outcome="recovered")

    response = interact(bot.sender, button_press("assess.open", bot.code, user=CLINICIAN))

    assert response.status == 200
    (note,) = bot.fake.wait_for("chat.postEphemeral")
    assert note.args["user"] == CLINICIAN
    assert f"Case {bot.code} is closed" in note.args["text"]
    assert bot.fake.of("views.open") == []


def _operator() -> Any:
    from bot.services.api import OPERATOR

    return OPERATOR
