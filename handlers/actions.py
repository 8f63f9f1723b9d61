"""Buttons under a reply: Record dose and Reassess open their forms; Summary shows the summary.

A message can be forwarded or seen by anyone in the channel, so the button's case code is only a
suggestion: the pressing user's role is checked for what the button leads to (and a denial is
audited) before a form opens or a summary is shown. A double press is one press: the action's
``action_ts`` is claimed once.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, BoltContext

from bot.commands import summary_result
from bot.replies import ActionId, FormKind, FormRequest
from bot.services.api import Services
from handlers.context import actor_of
from handlers.delivery import Poster


def register(app: App, *, services: Services, poster: Poster, zone: ZoneInfo) -> None:
    """Wire the three reply buttons (``zone``: the display time zone of the summary)."""

    def open_form(kind: FormKind, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        form = FormRequest(kind, str(body["actions"][0]["value"]))
        channel = (body.get("channel") or {}).get("id")
        poster.open_form(actor_of(context), form, trigger_id=body["trigger_id"], channel=channel)

    @app.action(ActionId.RECORD_DOSE.value)
    def record_dose_pressed(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        open_form(FormKind.DOSE, ack, body, context)

    @app.action(ActionId.REASSESS.value)
    def reassess_pressed(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        open_form(FormKind.ASSESSMENT, ack, body, context)

    @app.action(ActionId.SUMMARY.value)
    def summary_pressed(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        action = body["actions"][0]
        if not services.first_delivery(f"action:{action['action_ts']}:{context.user_id}"):
            return  # the same press delivered twice
        actor = actor_of(context)
        result = summary_result(services, actor, str(action["value"]), zone=zone)
        reply = result.thread or result.ack
        channel = (body.get("channel") or {}).get("id")
        message = body.get("message") or {}
        thread_ts = message.get("thread_ts") or message.get("ts")
        if channel and thread_ts:
            poster.in_thread(reply, channel=channel, thread_ts=thread_ts, user=actor.user)
        else:
            poster.ephemeral(reply, channel=channel, user=actor.user)
