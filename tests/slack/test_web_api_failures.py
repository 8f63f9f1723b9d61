"""The Web API failing: rate limits and server errors are retried (honouring ``Retry-After``);
permanent errors are reported by code, the user told where possible, and nothing is lost from
the database."""

from __future__ import annotations

import logging
import time

import pytest

from bot.db import models
from tests.slack.conftest import CLINICIAN, SlackBot
from tests.slack.fake_slack import RATE_LIMITED, SERVER_ERROR

ASSESS = 'temp=39.4 pressors=1 o2=nc:3 ice=7 note="secret clinical words"'


def test_a_rate_limited_post_is_retried_after_the_time_slack_asks(bot: SlackBot) -> None:
    bot.fake.fail("chat.postMessage", RATE_LIMITED, retry_after=1)

    response = bot.sender.command(f"assess {bot.code} {ASSESS}", user=CLINICIAN)

    assert response.status == 200
    first, retried, reply = bot.fake.wait_for("chat.postMessage", 3, timeout=15)
    assert retried.at - first.at >= 1.0  # Retry-After: 1 was honoured
    assert retried.args == first.args
    assert reply.args["thread_ts"] == retried.answer["ts"]


def test_a_server_error_is_retried(bot: SlackBot) -> None:
    bot.fake.fail("chat.postMessage", SERVER_ERROR, times=2)

    bot.sender.command(f"assess {bot.code} {ASSESS}", user=CLINICIAN)

    posts = bot.fake.wait_for("chat.postMessage", 4)
    assert posts[3].args["thread_ts"] == posts[2].answer["ts"]


def test_a_permanent_error_is_logged_by_code_and_the_user_told(
    bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot.fake.fail("chat.postMessage", "channel_not_found", times=2)
    caplog.set_level(logging.INFO)

    response = bot.sender.command(f"assess {bot.code} {ASSESS}", user=CLINICIAN)

    assert response.status == 200
    assert "CRS grade 3" in response.json()["text"]  # the grades were already in the ack
    assert bot.rows(models.Assessment) == 1  # recorded all the same
    (told,) = bot.fake.wait_for("chat.postEphemeral")
    assert told.args["user"] == CLINICIAN
    assert "channel_not_found" in told.args["text"]
    assert bot.metrics.value("webapi_errors", method="chat.postMessage", error="channel_not_found")
    assert "channel_not_found" in caplog.text
    assert "secret clinical words" not in caplog.text
    assert "secret clinical words" not in told.args["text"]


def test_a_user_that_cannot_be_reached_is_counted_and_nothing_breaks(bot: SlackBot) -> None:
    bot.fake.fail("chat.postMessage", "channel_not_found", times=2)
    bot.fake.fail("chat.postEphemeral", "channel_not_found")
    bot.fake.fail("conversations.open", "user_not_found")

    bot.sender.command(f"assess {bot.code} {ASSESS}", user=CLINICIAN)

    bot.fake.wait_for("conversations.open")
    assert bot.rows(models.Assessment) == 1
    assert bot.sender.command("help", user=CLINICIAN).status == 200  # still serving
    deadline = time.monotonic() + 5  # counted once the answer is read, after the fake saw it
    while not bot.metrics.value(
        "webapi_errors", method="conversations.open", error="user_not_found"
    ):
        assert time.monotonic() < deadline, "the failure was not counted"
        time.sleep(0.01)
