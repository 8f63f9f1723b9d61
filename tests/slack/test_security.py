"""Signature verification, replays and retries: a request Slack did not sign stores nothing, and
a request delivered twice stores once."""

from __future__ import annotations

import time

import pytest

from bot.db import models
from tests.slack.conftest import CLINICIAN, SlackBot
from tests.slack.payloads import message_event, send_event
from tests.slack.signing import FORM, command_body, signed_headers

ASSESS = "temp=39.4 pressors=1 o2=nc:3 ice=7"


def _nothing_happened(bot: SlackBot) -> None:
    assert bot.rows(models.Assessment) == 0
    time.sleep(0.1)  # anything the request started would be on the fake by now
    assert [c.method for c in bot.fake.calls] == []


def test_a_forged_signature_is_refused(bot: SlackBot) -> None:
    body = command_body(f"assess {bot.code} {ASSESS}", user=CLINICIAN)
    headers = signed_headers("not-the-secret", body, FORM)

    assert bot.sender.raw(body.encode(), headers).status == 401
    _nothing_happened(bot)


def test_a_missing_signature_is_refused(bot: SlackBot) -> None:
    body = command_body(f"assess {bot.code} {ASSESS}", user=CLINICIAN)

    assert bot.sender.post(body, FORM, signed=False).status == 401
    _nothing_happened(bot)


def test_a_body_altered_by_one_byte_is_refused(bot: SlackBot) -> None:
    body = command_body(f"assess {bot.code} {ASSESS}", user=CLINICIAN)
    headers = signed_headers(bot.sender.secret, body, FORM)
    altered = body.replace("temp%3D39.4", "temp%3D39.5")
    assert altered != body
    assert len(altered) == len(body)

    assert bot.sender.raw(altered.encode(), headers).status == 401
    _nothing_happened(bot)


@pytest.mark.parametrize("skew", [-301, 301], ids=["301s-old", "301s-ahead"])
def test_a_timestamp_more_than_five_minutes_off_is_refused(bot: SlackBot, skew: int) -> None:
    body = command_body(f"assess {bot.code} {ASSESS}", user=CLINICIAN)

    response = bot.sender.post(body, FORM, timestamp=int(time.time()) + skew)

    assert response.status == 401
    _nothing_happened(bot)


def test_the_same_signed_request_replayed_records_once_and_posts_once(bot: SlackBot) -> None:
    body = command_body(f"assess {bot.code} {ASSESS}", user=CLINICIAN)
    headers = signed_headers(bot.sender.secret, body, FORM)

    first = bot.sender.raw(body.encode(), headers)
    second = bot.sender.raw(body.encode(), headers)

    assert first.status == second.status == 200
    assert second.json()["text"].startswith(first.json()["text"])  # the same grades again
    assert bot.rows(models.Assessment) == 1
    bot.fake.wait_for("chat.postMessage", 2)  # the root and the one reply
    time.sleep(0.2)
    assert len(bot.fake.of("chat.postMessage")) == 2


def test_an_event_and_its_retries_record_once(bot: SlackBot) -> None:
    event = message_event(f"assess {bot.code} {ASSESS}", user=CLINICIAN)

    responses = [
        send_event(bot.sender, event, event_id="Ev0RETRY01", retry=retry)
        for retry in (None, 1, 2, 3)
    ]

    assert [r.status for r in responses] == [200] * 4
    assert bot.rows(models.Assessment) == 1
    bot.fake.wait_for("chat.postMessage", 1)
    time.sleep(0.2)
    assert len(bot.fake.of("chat.postMessage")) == 1
    assert bot.metrics.value("duplicates_dropped", kind="event") == 3


def test_a_retry_of_an_event_never_delivered_before_is_handled(bot: SlackBot) -> None:
    event = message_event(f"assess {bot.code} {ASSESS}", user=CLINICIAN)

    assert send_event(bot.sender, event, event_id="Ev0LOST001", retry=2).status == 200

    assert bot.rows(models.Assessment) == 1
