"""The error handler: an unexpected failure gives the user a reference to quote, the log gets no
clinical text, and a failed event is handled again when Slack retries it."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import Engine

from bot import commands
from bot.db import models
from handlers import commands as command_handlers
from handlers import messages as message_handlers
from tests.integration.conftest import FakeClock
from tests.slack.blockkit import assert_valid_message
from tests.slack.conftest import CLINICIAN, SlackBot, seeded_services, serving
from tests.slack.fake_slack import FakeSlack
from tests.slack.payloads import message_event, send_event, sent_payload

SECRET_WORDS = "Jane Doe MRN 12345678"


def _fail_once(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    calls = {"n": 0}

    def run_line(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError(f"boom with {SECRET_WORDS}")
        return commands.run_line(*args, **kwargs)

    monkeypatch.setattr(module, "run_line", run_line)


def test_an_unexpected_error_in_the_command_answers_with_a_reference_and_leaks_nothing(
    bot: SlackBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fail_once(monkeypatch, command_handlers)
    caplog.set_level(logging.INFO)

    response = bot.sender.command(
        f'assess {bot.code} temp=39 note="{SECRET_WORDS}"', user=CLINICIAN
    )

    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert_valid_message(body)
    assert "reference" in body["text"]
    assert SECRET_WORDS not in response.body.decode()
    assert "RuntimeError" in caplog.text
    assert SECRET_WORDS not in caplog.text
    assert bot.rows(models.Assessment) == 0
    assert bot.metrics.value("errors", kind="command", error="RuntimeError") == 1


def test_an_event_that_failed_is_handled_when_slack_retries_it(
    bot: SlackBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fail_once(monkeypatch, message_handlers)
    event = message_event(f"assess {bot.code} temp=39.4 pressors=1 o2=ra", user=CLINICIAN)

    first = send_event(bot.sender, event, event_id="Ev0FAILS01")
    told = bot.fake.wait_for("chat.postEphemeral")[0]
    retried = send_event(bot.sender, event, event_id="Ev0FAILS01", retry=1)

    assert first.status == retried.status == 200
    assert "reference" in told.args["text"]
    assert_valid_message(sent_payload(told.args))
    assert bot.rows(models.Assessment) == 1
    bot.fake.wait_for("chat.postMessage")
    assert SECRET_WORDS not in caplog.text


def test_debug_logging_writes_no_message_body(
    database: Engine, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """Free-text notes never reach logs, even with the root logger at DEBUG when the app is
    built: bolt's DEBUG lines (the answer's body) and the Web API client's (the thread post's
    body) stay unwritten."""
    caplog.set_level(logging.DEBUG)
    services, code = seeded_services(database, FakeClock())
    with serving(services, fake_slack) as (sender, _):
        recorded = sender.command(f'assess {code} temp=39 note="{SECRET_WORDS}"', user=CLINICIAN)
        refused = sender.command(f"assess {code} temp=39 spo2={SECRET_WORDS}", user=CLINICIAN)

    posts = fake_slack.wait_for("chat.postMessage", 2)  # the case thread opened, the reply in it
    assert SECRET_WORDS in json.dumps(sent_payload(posts[-1].args))  # the thread has the note
    assert "ICANS not assessed" in recorded.body.decode()
    assert refused.status == 200
    assert "spo2" in refused.body.decode()
    assert "DEBUG" in caplog.text  # something logged at DEBUG: the level was in effect
    assert SECRET_WORDS not in caplog.text
    assert "ICANS not assessed" not in caplog.text  # the answer's body
