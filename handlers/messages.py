"""Channel messages: ``assess CASE ...`` typed in a channel, or any line that mentions the bot.

Answered in the message's own thread. A mention arrives as ``app_mention`` (the bot's id is
stripped from the line); a plain ``assess`` message as a ``message`` event, which is skipped when
it also mentions the bot, so one message is never handled twice. The event id is the
idempotency key: Slack's retries of the same event store nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final
from zoneinfo import ZoneInfo

from slack_bolt import App, BoltContext

from bot.commands import run_line
from bot.services.api import Services
from handlers.context import actor_of
from handlers.delivery import Poster, notice

ASSESS_LINE: Final = re.compile(r"^\s*assess\s", re.IGNORECASE)
MENTION: Final = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


def register(
    app: App,
    *,
    services: Services,
    poster: Poster,
    zone: ZoneInfo,
    dedupe: Callable[..., Any],
) -> None:
    """Wire ``app_mention`` and ``assess ...`` messages to :func:`bot.commands.run_line`;
    ``dedupe`` (``handlers.middleware.event_dedupe``) drops Slack's repeats of each event."""

    def answer(line: str, event: dict[str, Any], body: dict[str, Any], ctx: BoltContext) -> None:
        actor = actor_of(ctx)
        channel, thread_ts = event["channel"], event.get("thread_ts") or event["ts"]
        key = f"event:{body['event_id']}"
        result = run_line(services, actor, line, zone=zone, idempotency_key=key)
        if result.form is not None:
            reply = notice(f"Forms open from the command: /tox assess {result.form.case_code}")
        else:
            reply = result.thread or result.ack
        poster.in_thread(reply, channel=channel, thread_ts=thread_ts, user=actor.user)

    @app.event("app_mention", middleware=[dedupe])
    def mentioned(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        answer(MENTION.sub(" ", event.get("text", "")).strip(), event, body, context)

    @app.message(ASSESS_LINE, middleware=[dedupe])
    def assess_message(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        text = event.get("text", "")
        if event.get("subtype") or MENTION.search(text):
            return  # an edit or a bot's post; or a mention, which app_mention answers
        answer(text.strip(), event, body, context)

    @app.event("message")
    def other_message() -> None:
        """Every other channel message: not for toxbot (and not an "unhandled request")."""
