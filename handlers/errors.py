"""The error handler: a failure becomes a message the user can act on, never a stack of data.

Domain errors carry messages written for a nurse or clinician (a role that is missing, a closed
case, a database that cannot be reached, a rejected value): those are shown to the person who
acted, where they acted (in the slash command's ack, in the form, or ephemerally in the
channel). Anything else is a bug: the user gets a reference to quote, and the log gets the
exception's type and its traceback frames with that reference, but never the exception's
message or the request body, which can hold clinical text. The delivery's dedupe claim is
dropped, so Slack's retry of a failed event is handled again.
"""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Sequence
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.metrics import Metrics
from bot.replies import Reply, Tone, Visibility
from bot.services.api import Services
from bot.services.errors import ServiceError
from grading.errors import InputError
from handlers.blocks import render_message
from handlers.context import DELIVERY_KEY
from handlers.delivery import Poster, message_view

log = logging.getLogger("toxbot.slack")

_JSON: dict[str, str | Sequence[str]] = {"content-type": "application/json;charset=utf-8"}


def user_message(error: Exception) -> tuple[str, str | None]:
    """What to tell the user about ``error``, and a log reference for an unexpected one."""
    if isinstance(error, ServiceError):
        return error.message, None
    if isinstance(error, InputError):
        return "Not recorded: " + "; ".join(e.message() for e in error.errors), None
    reference = uuid.uuid4().hex[:8]
    return (
        f"toxbot hit an unexpected error (reference {reference}). Check the case's thread "
        "before trying again: a repeated request never stores twice.",
        reference,
    )


def register(app: App, *, services: Services, poster: Poster, metrics: Metrics) -> None:
    """Install the app-wide error handler."""

    @app.error
    def on_error(error: Exception, body: dict[str, Any], context: BoltContext) -> BoltResponse:
        text, reference = user_message(error)
        kind = _kind(body)
        metrics.count("errors", kind=kind, error=type(error).__name__)
        if reference is None:
            log.info("%s refused: %s", kind, type(error).__name__)
        else:
            frames = "".join(traceback.format_tb(error.__traceback__))
            log.error(
                "%s failed: %s (reference %s)\n%s", kind, type(error).__name__, reference, frames
            )
        key = context.get(DELIVERY_KEY)
        if isinstance(key, str):
            services.forget_delivery(key)
        reply = Reply(summary=text, visibility=Visibility.EPHEMERAL, tone=Tone.ERROR)
        if kind == "command":
            payload = {"response_type": "ephemeral", **render_message(reply)}
            return BoltResponse(status=200, body=json.dumps(payload), headers=_JSON)
        if kind == "view_submission":
            payload = {"response_action": "update", "view": message_view(reply)}
            return BoltResponse(status=200, body=json.dumps(payload), headers=_JSON)
        user = context.user_id
        if user:
            channel = _channel(body)
            poster.ephemeral(reply, channel=channel, user=user)
        return BoltResponse(status=200, body="")


def _kind(body: dict[str, Any]) -> str:
    if "command" in body:
        return "command"
    return str(body.get("type") or "unknown")


def _channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel") or (body.get("event") or {}).get("channel")
    if isinstance(channel, dict):
        channel = channel.get("id")
    return channel if isinstance(channel, str) and channel[:1] in "CG" else None
