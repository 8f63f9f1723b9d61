"""Slack payload shapes for scenario tests: button presses, view submissions, events.

Shaped like what Slack sends (trimmed to what toxbot reads plus the fields bolt routes on).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Final

from tests.slack.fake_slack import BOT_USER_ID, TEAM_ID
from tests.slack.signing import FORM, JSON, SlackSender, event_body, interactivity_body, unique

WARD: Final = "C0WARD001"


def _team_user(user: str) -> dict[str, Any]:
    return {
        "team": {"id": TEAM_ID, "domain": "test"},
        "user": {"id": user, "username": "someone", "team_id": TEAM_ID},
        "api_app_id": "A0TOXBOT1",
        "token": "legacy-verification-token",
    }


def button_press(
    action_id: str, value: str, *, user: str, channel: str = WARD, message_ts: str = "1700.1"
) -> dict[str, Any]:
    """A ``block_actions`` payload: ``user`` pressed a reply's button in ``channel``."""
    return {
        "type": "block_actions",
        **_team_user(user),
        "trigger_id": unique("trig."),
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "channel": {"id": channel, "name": "ward"},
        "message": {"type": "message", "ts": message_ts, "text": "reply", "user": BOT_USER_ID},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "buttons",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission(
    view: Mapping[str, Any], values: Mapping[str, Mapping[str, Any]], *, user: str
) -> dict[str, Any]:
    """A ``view_submission`` of ``view`` (as toxbot opened it) with ``values`` by block id.

    ``values`` maps a block id to its element state, e.g. ``{"type": "plain_text_input",
    "value": "39.4"}``; the action id is the block id, as toxbot's forms make them.
    """
    state = {block: {block: dict(element)} for block, element in values.items()}
    return {
        "type": "view_submission",
        **_team_user(user),
        "trigger_id": unique("trig."),
        "view": {
            **dict(view),
            "id": view.get("id") or unique("V"),
            "team_id": TEAM_ID,
            "hash": unique("h."),
            "state": {"values": state},
        },
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def number(value: str) -> dict[str, Any]:
    return {"type": "number_input", "value": value}


def choice(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value, "text": value}}


def message_event(
    text_: str, *, user: str, channel: str = WARD, ts: str | None = None
) -> dict[str, Any]:
    """A channel ``message`` event."""
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text_,
        "ts": ts or f"{time.time():.6f}",
        "channel_type": "channel",
    }


def mention_event(text_: str, *, user: str, channel: str = WARD) -> dict[str, Any]:
    """An ``app_mention`` event (the text starts with the bot's mention)."""
    return {**message_event(text_, user=user, channel=channel), "type": "app_mention"}


def interact(sender: SlackSender, payload: Mapping[str, Any]) -> Any:
    """Send an interactivity payload; the response."""
    return sender.post(interactivity_body(dict(payload)), FORM)


def send_event(
    sender: SlackSender,
    event: Mapping[str, Any],
    *,
    event_id: str | None = None,
    retry: int | None = None,
) -> Any:
    """Send an Events API callback (as retry ``retry`` when given)."""
    headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    body = event_body(dict(event), event_id=event_id)
    return sender.post(body, JSON, headers=headers if retry else None)


def sent_payload(call_args: Mapping[str, Any]) -> dict[str, Any]:
    """A Web API call's message payload (``text`` and ``blocks``)."""
    blocks = call_args.get("blocks", [])
    return {
        "text": call_args.get("text"),
        "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
    }
