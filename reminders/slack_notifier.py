"""Reminders delivered in Slack: a DM to a nurse, or a post in the on-call channel (issue 6).

:class:`SlackNotifier` implements :class:`~reminders.notifier.Notifier` over a slack_sdk
``WebClient`` built by ``bot.app.make_web_client``, so ``SLACK_API_URL`` and the client's own
retries (429 after ``Retry-After``, 5xx, dropped connections) apply before anything is reported.
What is still failing afterwards is mapped for the dispatcher:

* 429 -> :meth:`Delivery.retry` with Slack's ``Retry-After``; 5xx, a Slack-side transient code
  or a connection error -> :meth:`Delivery.retry` (the dispatcher backs off);
* anything else (``user_not_found``, ``channel_not_found``, ``is_archived``, ``not_in_channel``,
  ``cannot_dm_bot``, a bad token...) -> :meth:`Delivery.failed` with the code: the dispatcher
  escalates at once.

Only the reminder id, the method and the error code are logged: never the message (it carries
the case's grades). The message itself (:func:`reminder_blocks`) names the case by its code only,
and its buttons carry the reminder id; the listeners are ``handlers.reminder_actions`` (the
action ids below are repeated there, since ``reminders`` and ``handlers`` never import each
other; a test holds them equal).

Example::

    notifier = make_slack_notifier(settings, protocol=services.protocol)
    if notifier is not None:
        reminders_for(settings, services, notifier)
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from reminders.notifier import Delivery, ReminderMessage, late_text, message_text

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.settings import Settings
    from grading.protocol import Protocol

log = logging.getLogger("toxbot.reminders.slack")

ACK_ACTION: Final = "reminder.ack"
SNOOZE_ACTION: Final = "reminder.snooze"
ASSESS_ACTION: Final = "reminder.assess"
ACTIONS_BLOCK: Final = "reminder.actions"
STATUS_BLOCK: Final = "reminder.status"  # the line a button press writes (who did what, when)

TRANSIENT_CODES: Final = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)
"""Slack error codes that say "try again later" rather than "this will never work"."""
DM_CHANNELS_REMEMBERED: Final = 5000
_CODE: Final = re.compile(r"[^a-z0-9_.]")
_SLACK_ID: Final = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_ENTITIES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LOOKALIKES: Final = {"*": "\u2217", "~": "\u223c", "`": "\u02cb", "_": "\u02cd"}


class SlackNotifier:
    """Delivers reminder messages through the Slack Web API (module docstring).

    ``zone`` is the display time zone of the due time; ``snooze_min`` labels the Snooze button
    (the protocol's ``escalation.snooze_min``). DM channel ids are remembered per user, so a
    repeat to the same nurse costs one call, not two.
    """

    def __init__(
        self, *, client: WebClient, zone: tzinfo | None = None, snooze_min: float = 15
    ) -> None:
        self._client = client
        self._zone = zone
        self._snooze_min = snooze_min
        self._dm: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def deliver(self, message: ReminderMessage) -> Delivery:
        """Post ``message`` to its target; report (never raise) how it went."""
        from slack_sdk.errors import SlackApiError, SlackClientError

        method = "conversations.open"
        try:
            if message.target.kind == "channel":
                channel = message.target.id
            else:
                channel = self._dm_channel(message.target.id)
            method = "chat.postMessage"
            payload = reminder_blocks(message, zone=self._zone, snooze_min=self._snooze_min)
            response = self._client.chat_postMessage(channel=channel, **payload)
        except SlackApiError as exc:
            delivery = _from_api_error(exc)
            if message.target.kind == "user" and method == "chat.postMessage":
                self._forget_dm(message.target.id)  # a stale DM channel is asked for again
        except (SlackClientError, OSError) as exc:  # refused or dropped after the retries
            delivery = Delivery.retry(_code(type(exc).__name__))
        else:
            ts = response.get("ts")
            return Delivery.sent(
                channel=str(response.get("channel") or channel),
                ts=str(ts) if ts is not None else None,
            )
        log.warning(
            "reminder %s: Slack %s failed: %s (%s)",
            message.reminder_id,
            method,
            delivery.error,
            delivery.outcome.value,
        )
        return delivery

    def _dm_channel(self, user: str) -> str:
        with self._lock:
            known = self._dm.get(user)
        if known is not None:
            return known
        opened = self._client.conversations_open(users=user)
        channel = str(opened["channel"]["id"])
        with self._lock:
            self._dm[user] = channel
            while len(self._dm) > DM_CHANNELS_REMEMBERED:
                self._dm.popitem(last=False)
        return channel

    def _forget_dm(self, user: str) -> None:
        with self._lock:
            self._dm.pop(user, None)


def make_slack_notifier(
    settings: Settings, *, protocol: Protocol | None = None, client: WebClient | None = None
) -> SlackNotifier | None:
    """A :class:`SlackNotifier` when Slack is configured (a bot token), else None.

    The client is ``bot.app.make_web_client``'s (``SLACK_API_URL``, retries) unless given; the
    Snooze label follows ``protocol`` when given.
    """
    if settings.slack_bot_token is None and client is None:
        return None
    from bot.app import make_web_client

    snooze_min = protocol.escalation.snooze_min if protocol is not None else 15
    return SlackNotifier(
        client=client or make_web_client(settings),
        zone=ZoneInfo(settings.toxbot_timezone),
        snooze_min=snooze_min,
    )


# ---------------------------------------------------------------------------------------------
# Error mapping


def _from_api_error(exc: Any) -> Delivery:
    """A ``SlackApiError`` left after the client's retries, as a :class:`Delivery`."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    error = _code(str(data.get("error") or "unknown")) if isinstance(data, dict) else "unknown"
    if status == 429:
        return Delivery.retry(error or "ratelimited", retry_after=_retry_after(response))
    if status >= 500 or error in TRANSIENT_CODES:
        return Delivery.retry(f"http_{status}" if status >= 500 else error)
    return Delivery.failed(error)


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for name, value in dict(headers).items():
        if str(name).lower() == "retry-after":
            try:
                return max(float(value if not isinstance(value, list) else value[0]), 0.0)
            except (TypeError, ValueError):
                return None
    return None


def _code(text: str) -> str:
    """An error code safe to log and store: lower-case letters, digits, ``_`` and ``.``."""
    return _CODE.sub("", text.lower())[:60] or "unknown"


# ---------------------------------------------------------------------------------------------
# The message


def escape_mrkdwn(text: str) -> str:
    """``text`` shown as typed in mrkdwn: no mention, link or formatting (see handlers.blocks)."""
    return "".join(_ENTITIES.get(char) or _LOOKALIKES.get(char) or char for char in text)


def mention(user: str | None) -> str:
    """A Slack user id as a mention; anything not shaped like one is shown escaped."""
    if user is None:
        return "the nurse"
    return f"<@{user}>" if _SLACK_ID.match(user) else escape_mrkdwn(user)


def reminder_blocks(
    message: ReminderMessage, *, zone: tzinfo | None = None, snooze_min: float = 15
) -> dict[str, Any]:
    """The ``{"text", "blocks"}`` payload of one reminder: what is due, grades, lateness, buttons.

    Workflow words only (D19): what is due and when, the last recorded grades, who was not
    reached; no advice, no free text, the case by its code.
    """
    code = escape_mrkdwn(message.case_code)
    review = message.kind == "refractory_review"
    what = "Clinician re-review" if review else "Reassessment"
    status = "overdue" if message.overdue else "due"
    mark = ":warning:" if message.overdue or message.level else ":alarm_clock:"
    shown = message.due_at.astimezone(zone or ZoneInfo("UTC"))
    lines = [
        f"{mark} *{what} {status}: {code}*",
        f"{_first_upper(escape_mrkdwn(message.what))}, due {shown:%Y-%m-%d %H:%M %Z}"
        f" ({late_text(message.late_by)})",
        "Last grades: " + _grades(message),
    ]
    if message.level == 1:
        lines.append(f"Not acknowledged by {mention(message.recipient)}: charge nurse told.")
    elif message.level >= 2:
        lines.append(f"Not acknowledged by {mention(message.recipient)}: on-call told.")
    buttons = [_button(ACK_ACTION, "Acknowledge", str(message.reminder_id), primary=True)]
    if message.snoozes_left > 0:
        buttons.append(
            _button(SNOOZE_ACTION, f"Snooze {snooze_min:g} min", str(message.reminder_id))
        )
    buttons.append(
        _button(ASSESS_ACTION, "Enter assessment", f"{message.reminder_id}:{message.case_code}")
    )
    context = f"Reminder {message.reminder_id} · decision support: the treating team decides"
    return {
        "text": "".join(_ENTITIES.get(char, char) for char in message_text(message)),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": buttons},
        ],
    }


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _grades(message: ReminderMessage) -> str:
    shown = [
        f"{name} {grade}"
        for name, grade in (("CRS", message.crs_grade), ("ICANS", message.icans_grade))
        if grade is not None
    ]
    return ", ".join(shown) if shown else "none recorded yet"


def _button(action_id: str, label: str, value: str, *, primary: bool = False) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": False},
        "value": value,
    }
    if primary:
        button["style"] = "primary"
    return button
