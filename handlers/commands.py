"""``/tox``: the slash command. The grades come back in the acknowledgement itself.

The app runs with ``process_before_response``: the listener records, renders and acks, and bolt
returns that ack as the HTTP response, so no ack-polling delay and no Web API round trip sit
between the request and the grades (design §2, §10). The full reply goes to the case's thread on
the background poster. Slack sends no event id with a command; its ``trigger_id`` is unique per
invocation and is the idempotency key, so a replayed request stores nothing twice.
"""

from __future__ import annotations

from typing import Any, Final
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, BoltContext

from bot.commands import run_line
from bot.services.api import Services
from handlers.blocks import render_message
from handlers.context import actor_of
from handlers.delivery import Poster

COMMAND: Final = "/tox"


def register(app: App, *, services: Services, poster: Poster, zone: ZoneInfo) -> None:
    """Wire ``/tox`` to :func:`bot.commands.run_line`."""

    @app.command(COMMAND)
    def tox_command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        actor = actor_of(context)
        key = f"slash:{command['trigger_id']}"
        result = run_line(services, actor, command.get("text", ""), zone=zone, idempotency_key=key)
        if result.form is not None:
            poster.open_form(
                actor,
                result.form,
                trigger_id=command["trigger_id"],
                channel=command.get("channel_id"),
            )
            ack()
            return
        ack(response_type="ephemeral", **render_message(result.ack))
        if result.thread is not None:
            poster.to_case_thread(
                result.thread, key=key, channel=command.get("channel_id"), user=actor.user
            )
