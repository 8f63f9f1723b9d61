"""Channel messages, mentions and the home tab, through the Events API."""

from __future__ import annotations

from bot.db import models
from tests.slack.blockkit import assert_valid_message, assert_valid_view
from tests.slack.conftest import CLINICIAN, STRANGER, WARD, SlackBot
from tests.slack.fake_slack import BOT_USER_ID
from tests.slack.payloads import mention_event, message_event, send_event, sent_payload

ASSESS = "temp=39.4 pressors=1 o2=nc:3 ice=7"


def test_an_assess_message_is_recorded_and_answered_in_its_thread(bot: SlackBot) -> None:
    event = message_event(f"assess {bot.code} {ASSESS}", user=CLINICIAN, ts="1700000100.000100")

    assert send_event(bot.sender, event).status == 200

    (post,) = bot.fake.wait_for("chat.postMessage")
    assert post.args["channel"] == WARD
    assert post.args["thread_ts"] == "1700000100.000100"
    assert "CRS grade 3" in post.args["text"]
    assert_valid_message(sent_payload(post.args))
    assert bot.rows(models.Assessment) == 1


def test_a_mention_is_answered_with_the_mention_stripped(bot: SlackBot) -> None:
    event = mention_event(f"<@{BOT_USER_ID}> assess {bot.code} {ASSESS}", user=CLINICIAN)

    assert send_event(bot.sender, event).status == 200

    (post,) = bot.fake.wait_for("chat.postMessage")
    assert post.args["thread_ts"] == event["ts"]
    assert bot.rows(models.Assessment) == 1


def test_a_message_that_also_mentions_the_bot_is_answered_once(bot: SlackBot) -> None:
    text = f"assess {bot.code} {ASSESS} <@{BOT_USER_ID}>"
    send_event(bot.sender, message_event(text, user=CLINICIAN))
    send_event(bot.sender, mention_event(text, user=CLINICIAN))

    bot.fake.wait_for("chat.postMessage")
    assert bot.rows(models.Assessment) == 1


def test_a_refusal_is_shown_only_to_the_sender(bot: SlackBot) -> None:
    send_event(bot.sender, message_event(f"assess {bot.code} {ASSESS}", user=STRANGER))

    (note,) = bot.fake.wait_for("chat.postEphemeral")
    assert note.args["user"] == STRANGER
    assert "Not allowed" in note.args["text"]
    assert_valid_message(sent_payload(note.args))
    assert bot.rows(models.Assessment) == 0
    assert bot.denials("assessment.record") == 1


def test_ordinary_chatter_is_ignored(bot: SlackBot) -> None:
    with bot.fake.quiet_for(0.2):
        send_event(bot.sender, message_event("assessing the situation, back soon", user=CLINICIAN))
    assert bot.rows(models.Assessment) == 0


def test_opening_the_home_tab_publishes_the_home_view(bot: SlackBot) -> None:
    event = {"type": "app_home_opened", "user": CLINICIAN, "channel": "D0HOME001", "tab": "home"}

    assert send_event(bot.sender, event).status == 200

    (published,) = bot.fake.wait_for("views.publish")
    assert published.args["user_id"] == CLINICIAN
    assert_valid_view(published.args["view"])


def test_assess_without_fields_in_a_channel_points_to_the_command_form(bot: SlackBot) -> None:
    send_event(bot.sender, message_event(f"assess {bot.code}", user=CLINICIAN))

    (note,) = bot.fake.wait_for("chat.postEphemeral")
    assert f"/tox assess {bot.code}" in note.args["text"]
    assert bot.fake.of("views.open") == []
    assert bot.rows(models.Assessment) == 0


def test_ordinary_chatter_writes_nothing_to_the_database(bot: SlackBot) -> None:
    send_event(bot.sender, message_event("coffee anyone?", user=CLINICIAN))

    assert bot.rows(models.ProcessedEvent) == 0
