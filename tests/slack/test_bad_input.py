"""Bad input through ``/tox``: a clear ephemeral error naming the field, nothing stored, nothing
posted; mentions and mrkdwn typed by a user are never sent back as live markup; and no command
text at all makes the server answer 500."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.db import models
from tests.slack.blockkit import assert_valid_message, assert_valid_view
from tests.slack.conftest import CLINICIAN, SlackBot
from tests.slack.payloads import sent_payload

# A live mention or broadcast in Slack markup: <!channel>, <!here>, <@U123>, <#C123>.
LIVE_MARKUP = re.compile(r"<[!@#][^>]*>")


def _error(bot: SlackBot, line: str) -> str:
    response = bot.sender.command(line, user=CLINICIAN)
    assert response.status == 200, response.body
    body: dict[str, Any] = response.json()
    assert body["response_type"] == "ephemeral"
    assert_valid_message(body)
    return json.dumps(body)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ("temp=39.4 colour=red", "colour"),  # unknown field
        ("temp=39.4K", "temp"),  # bad unit
        ("temp=47", "temp"),  # out of range
        ("o2=nc:95", "o2"),  # flow out of range
        ("ice=11", "ice"),
        ("pressors=-1", "pressors"),
        ("temp=39 temp=40", "temp"),  # repeated
        ("sbp=85", "sbp"),  # refused with a hint
    ],
)
def test_a_bad_value_is_named_in_an_ephemeral_error_and_nothing_is_stored(
    bot: SlackBot, fields: str, named: str
) -> None:
    answer = _error(bot, f"assess {bot.code} {fields}")

    assert named in answer
    assert bot.rows(models.Assessment) == 0
    time.sleep(0.1)
    assert [c.method for c in bot.fake.calls if c.method != "auth.test"] == []


@pytest.mark.parametrize(
    "note",
    ["<!channel> CRS rising", "<!here|here> look", "<@U0OTHER01> please check", "*bold* _it_ ~x~"],
)
def test_markup_in_a_note_is_never_sent_back_as_a_mention_or_formatting(
    bot: SlackBot, note: str
) -> None:
    response = bot.sender.command(
        f'assess {bot.code} temp=38.4 bp=normal o2=ra note="{note}"', user=CLINICIAN
    )
    sent = [response.json()]
    if bot.rows(models.Assessment):  # stored as typed; check the thread post too
        sent += [sent_payload(call.args) for call in bot.fake.wait_for("chat.postMessage", 2)]
    for payload in sent:
        assert_valid_message(payload)
        assert not LIVE_MARKUP.search(json.dumps(payload)), payload
        for block in payload.get("blocks", []):
            assert "*bold*" not in json.dumps(block)


def test_a_mention_for_a_case_code_opens_no_form_and_is_not_echoed_live(bot: SlackBot) -> None:
    answer = _error(bot, "assess at=<!channel>summary")  # found by the property test below

    assert "No case" in answer
    assert not LIVE_MARKUP.search(answer)  # the code is echoed upper-cased, and escaped
    assert bot.fake.of("views.open") == []


def test_a_mention_in_an_unknown_verb_is_not_echoed_live(bot: SlackBot) -> None:
    answer = _error(bot, "<!channel> everyone")

    assert not LIVE_MARKUP.search(answer)
    assert bot.rows(models.Assessment) == 0


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    line=st.one_of(
        st.text(max_size=300),
        st.lists(
            st.sampled_from(
                [
                    "assess",
                    "give",
                    "new",
                    "labs",
                    "summary",
                    "report",
                    "role",
                    "due",
                    "close",
                    "CT-",
                    "temp=",
                    "o2=nc:",
                    "ice=",
                    'note="',
                    "<!channel>",
                    "=",
                    '"',
                    "at=",
                    "25:99",
                    "1e309",
                    "nan",
                    "-0",
                    "\u202e",
                    "\x00",
                    "mg",
                    "tocilizumab",
                    " ",
                ]
            ),
            max_size=12,
        ).map("".join),
    )
)
def test_no_command_text_makes_the_server_fail(bot: SlackBot, line: str) -> None:
    response = bot.sender.command(line, user=CLINICIAN)

    assert response.status == 200, (line, response.body[:200])
    if not response.body:  # "assess CASE" alone, on a case that is there: its form opened
        assert_valid_view(bot.fake.wait_for("views.open")[-1].args["view"])
        return
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert_valid_message(body)
