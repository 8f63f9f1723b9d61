"""Every reply the real interpreter gives over the demo's 48-hour refractory-CRS case renders as
a valid message that keeps every line, source, protocol version and [UNVERIFIED] mark.

It replays ``bot.demo``'s script through ``run_line`` on a throw-away SQLite database (as
``toxbot demo`` does), so the replies are the ones a team sees, not ones shaped for the test.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import build_services
from bot.commands import help_reply, run_line
from bot.demo import SCRIPT, START, ZONE, ScriptedClock
from bot.replies import ActionId, Reply, Tone, Visibility
from bot.services.api import Actor
from bot.settings import Settings
from handlers.blocks import escape_mrkdwn, render_message
from tests.slack.blockkit import assert_valid_message


@pytest.fixture(scope="module")
def demo_replies(tmp_path_factory: pytest.TempPathFactory) -> list[Reply]:
    folder: Path = tmp_path_factory.mktemp("demo")
    clock = ScriptedClock()
    settings = Settings(
        database_url=f"sqlite:///{folder / 'demo.db'}",
        toxbot_protocol=None,
        toxbot_timezone=ZONE.key,
        toxbot_admins="",
        toxbot_auto_upgrade=True,
    )
    services = build_services(settings, clock=clock)
    actor = Actor("console", "console", trusted=True)
    replies: list[Reply] = []
    code = "CASE"
    for hours, template in SCRIPT:
        clock.moment = START + timedelta(hours=hours)
        result = run_line(services, actor, template.format(code=code), zone=ZONE)
        if template.startswith("new") and result.ack.case_code:
            code = result.ack.case_code
        replies.extend(reply for reply in (result.ack, result.thread) if reply is not None)
    return replies


def _shown(payload: dict[str, object]) -> str:
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    texts = [b["text"]["text"] for b in blocks if "text" in b]
    texts += [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    return " ".join(" ".join(texts).split())


def _lines(reply: Reply) -> Iterator[str]:
    for section in reply.sections:
        yield from section.lines
        yield from section.context


def test_the_demo_gives_thread_replies_with_guidance(demo_replies: list[Reply]) -> None:
    assert len(demo_replies) > len(SCRIPT)  # acks, and thread posts for what was recorded
    assert any("[UNVERIFIED]" in reply.as_text() for reply in demo_replies)


def test_every_demo_reply_renders_valid_and_whole(demo_replies: list[Reply]) -> None:
    for reply in demo_replies:
        payload = render_message(reply)
        assert_valid_message(payload)
        shown = _shown(payload)
        if "… more in the summary" in shown:
            continue  # cut on purpose, with a line that says so (not expected in the demo)
        for line in _lines(reply):
            assert escape_mrkdwn(" ".join(line.split())) in shown, line
        assert shown.count("[UNVERIFIED]") == reply.as_text().count("[UNVERIFIED]")


def test_no_demo_reply_needs_cutting(demo_replies: list[Reply]) -> None:
    for reply in demo_replies:
        assert "… more in the summary" not in _shown(render_message(reply))


def test_the_help_reply_renders_valid() -> None:
    payload = render_message(help_reply())
    assert_valid_message(payload)
    assert payload["text"].startswith("toxbot grades CRS and ICANS")


def test_every_demo_reply_survives_the_trip_to_the_poster_process(
    demo_replies: list[Reply],
) -> None:
    """``toxbot serve`` pickles each thread reply to its poster process: what arrives is the same
    reply, enums and all, whatever its sections, context lines and buttons."""
    assert any(reply.buttons for reply in demo_replies)
    assert any(section.context for reply in demo_replies for section in reply.sections)
    for reply in demo_replies:
        for protocol in (pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
            arrived = pickle.loads(pickle.dumps(reply, protocol=protocol))
            assert arrived == reply
            assert isinstance(arrived.visibility, Visibility)
            assert isinstance(arrived.tone, Tone)
            assert all(isinstance(button.action_id, ActionId) for button in arrived.buttons)
            assert render_message(arrived) == render_message(reply)
