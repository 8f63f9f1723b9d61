"""Reminder buttons: Acknowledge, Snooze and Enter assessment (issue 6).

The reminder message (``reminders.slack_notifier``) carries the reminder id as each button's
value (``ID:CASE`` for Enter assessment, which needs the case for its form). A DM can be
forwarded and a channel post is seen by everyone, so every press is re-checked for whoever
pressed it: Acknowledge and Snooze through ``Services.acknowledge_reminder`` /
``snooze_reminder`` (role ``reminder.ack`` AND assignment to the case; a refusal is audited
there and explained by the error handler), Enter assessment through the role that recording
needs, the same check ``/tox assess`` makes. Presses are idempotent: the services return the row
unchanged on a repeat, and the message is redrawn from the row, so it shows the same thing.

After a press the message is updated in place (``chat.update``, off the hot path) to say who
did what and when ("Acknowledged by <@U…> at 14:05 UTC"), keeping the original lines and only
the buttons that still apply. User ids from Slack render as mentions; nothing else is markup.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, BoltContext

from bot.replies import FormKind, FormRequest
from bot.services.api import Services
from bot.services.reminders import ReminderStatus
from handlers.blocks import escape_mrkdwn, escape_text
from handlers.context import actor_of
from handlers.delivery import Poster, notice

# Repeated from reminders.slack_notifier (handlers never import reminders; a test holds them).
ACK_ACTION: Final = "reminder.ack"
SNOOZE_ACTION: Final = "reminder.snooze"
ASSESS_ACTION: Final = "reminder.assess"
ACTIONS_BLOCK: Final = "reminder.actions"
STATUS_BLOCK: Final = "reminder.status"

_SLACK_ID: Final = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_OPEN: Final = frozenset({"pending", "sending", "sent", "snoozed", "escalated"})


def register(app: App, *, services: Services, poster: Poster, zone: ZoneInfo) -> None:
    """Wire the three reminder buttons (``zone``: how times are shown on the message)."""
    max_snoozes = services.protocol.escalation.max_snoozes

    def redraw(body: dict[str, Any], done: ReminderStatus, by: str) -> None:
        channel, ts = _message_place(body)
        if channel is None or ts is None:
            return
        message = body.get("message") or {}
        update = updated_message(message, done, by=by, zone=zone, max_snoozes=max_snoozes)
        # Off the hot path; a failure is logged by the poster by its type, never its payload.
        poster.submit(lambda: app.client.chat_update(channel=channel, ts=ts, **update))

    @app.action(ACK_ACTION)
    def acknowledge_pressed(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        actor = actor_of(context)
        reminder_id = _reminder_id(body)
        if reminder_id is None:
            return
        done = services.acknowledge_reminder(actor, reminder_id)
        redraw(body, done, actor.user)

    @app.action(SNOOZE_ACTION)
    def snooze_pressed(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        actor = actor_of(context)
        reminder_id = _reminder_id(body)
        if reminder_id is None:
            return
        done = services.snooze_reminder(actor, reminder_id)
        if done.refusal is not None:  # for the presser alone; the message stays as it is
            channel, _ = _message_place(body)
            poster.ephemeral(notice(done.refusal), channel=_shared(channel), user=actor.user)
            return
        redraw(body, done, actor.user)

    @app.action(ASSESS_ACTION)
    def assess_pressed(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        value = str(body["actions"][0].get("value") or "")
        _, _, code = value.partition(":")
        if not code:
            return
        channel, _ = _message_place(body)
        form = FormRequest(FormKind.ASSESSMENT, code)
        poster.open_form(
            actor_of(context), form, trigger_id=body["trigger_id"], channel=_shared(channel)
        )


def updated_message(
    message: dict[str, Any],
    done: ReminderStatus,
    *,
    by: str,
    zone: ZoneInfo,
    max_snoozes: int,
) -> dict[str, Any]:
    """The pressed message redrawn: its lines, a status line, and the buttons still useful.

    ``message`` is the message as Slack sent it with the press (its ``blocks`` are the ones
    toxbot posted); with no blocks, a one-line message is drawn from the status alone.
    """
    status = status_line(done, by=by, zone=zone)
    kept = [
        block
        for block in message.get("blocks") or []
        if isinstance(block, dict)
        and block.get("type") != "actions"
        and block.get("block_id") != STATUS_BLOCK
    ]
    if not kept:
        headline = f"*Reminder {done.reminder_id}: {escape_mrkdwn(done.case_code)}*"
        kept = [{"type": "section", "text": {"type": "mrkdwn", "text": headline}}]
    wanted = _buttons_left(done, max_snoozes)
    buttons = [
        element
        for block in message.get("blocks") or []
        if isinstance(block, dict) and block.get("type") == "actions"
        for element in block.get("elements") or []
        if isinstance(element, dict) and element.get("action_id") in wanted
    ]
    blocks = [
        *kept,
        {
            "type": "context",
            "block_id": STATUS_BLOCK,
            "elements": [{"type": "mrkdwn", "text": status}],
        },
    ]
    if buttons:
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": buttons})
    fallback = f"Reminder {done.reminder_id} for {done.case_code}: {done.text(zone)}"
    return {"text": escape_text(fallback), "blocks": blocks}


def status_line(done: ReminderStatus, *, by: str, zone: ZoneInfo) -> str:
    """Who did what and when, e.g. 'Acknowledged by <@U123> at 14:05 UTC' (mrkdwn)."""
    if done.state == "acknowledged" and done.acknowledged_at is not None:
        return f":white_check_mark: Acknowledged by {_mention(done.acknowledged_by)} at " + _at(
            done.acknowledged_at, zone
        )
    if done.state == "snoozed" and done.snoozed_until is not None:
        return (
            f":zzz: Snoozed by {_mention(by)} until {_at(done.snoozed_until, zone)} "
            f"({done.snooze_count} of the snoozes allowed used)"
        )
    if done.state == "resolved":
        return "Resolved: the assessment was recorded"
    if done.state == "cancelled":
        return "Cancelled: the case was closed"
    return escape_mrkdwn(done.text(zone))


def _buttons_left(done: ReminderStatus, max_snoozes: int) -> frozenset[str]:
    if done.state == "acknowledged":
        return frozenset({ASSESS_ACTION})  # acknowledged: the assessment is still to enter
    if done.state not in _OPEN:
        return frozenset()
    if done.snooze_count < max_snoozes and done.state != "snoozed":
        return frozenset({ACK_ACTION, SNOOZE_ACTION, ASSESS_ACTION})
    return frozenset({ACK_ACTION, ASSESS_ACTION})


def _mention(user: str | None) -> str:
    if user is None:
        return "someone"
    return f"<@{user}>" if _SLACK_ID.match(user) else escape_mrkdwn(user)


def _at(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%H:%M %Z")


def _reminder_id(body: dict[str, Any]) -> int | None:
    value = str(body["actions"][0].get("value") or "")
    head = value.partition(":")[0]
    return int(head) if head.isdigit() else None


def _message_place(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The pressed message's channel and ts (the container's, else the message's)."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    return (
        channel if isinstance(channel, str) else None,
        ts if isinstance(ts, str) else None,
    )


def _shared(channel: str | None) -> str | None:
    """A channel to answer in: a public or private channel, not a DM (those go by DM)."""
    return channel if channel is not None and channel[:1] in "CG" else None
