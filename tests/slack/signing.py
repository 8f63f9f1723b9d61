"""Requests signed exactly as Slack signs them, and a keep-alive client to send them.

Slack signs ``v0:{timestamp}:{raw body}`` with HMAC-SHA256 under the app's signing secret and
sends ``X-Slack-Signature: v0=<hex>`` and ``X-Slack-Request-Timestamp``. Slash commands and
interactivity come form-encoded (interactivity as one ``payload=`` field holding JSON); events
come as JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

FORM: Final = "application/x-www-form-urlencoded"
JSON: Final = "application/json"
_counter = itertools.count(1)


def sign(secret: str, body: str, timestamp: int) -> str:
    """The ``X-Slack-Signature`` of ``body`` sent at ``timestamp``."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: str, content_type: str, *, timestamp: int | None = None
) -> dict[str, str]:
    """Headers Slack sends with ``body``; ``timestamp`` defaults to now."""
    moment = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(moment),
        "X-Slack-Signature": sign(secret, body, moment),
    }


def unique(prefix: str) -> str:
    """A fresh id (trigger ids, event ids, view ids) unique within the test run."""
    return f"{prefix}{time.time_ns()}{next(_counter)}"


def command_body(
    text: str, *, user: str, channel: str = "C0WARD001", trigger_id: str | None = None
) -> str:
    """A ``/tox`` slash command as Slack form-encodes it."""
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0TEAM001",
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "ward",
            "user_id": user,
            "user_name": "someone",
            "command": "/tox",
            "text": text,
            "api_app_id": "A0TOXBOT1",
            "response_url": "https://hooks.slack.invalid/commands/1/2/3",
            "trigger_id": trigger_id or unique("13345224609."),
        }
    )


def interactivity_body(payload: dict[str, Any]) -> str:
    """An interactivity request (button press, view submission): ``payload=<json>``."""
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], *, event_id: str | None = None) -> str:
    """An Events API callback wrapping ``event``."""
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": "T0TEAM001",
            "api_app_id": "A0TOXBOT1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or unique("Ev"),
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0TEAM001", "user_id": "UTOXBOT01", "is_bot": True}],
        }
    )


@dataclass(frozen=True, slots=True)
class Response:
    """What the bot answered."""

    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class SlackSender:
    """Sends signed requests to the bot over one keep-alive loopback connection."""

    def __init__(self, host: str, port: int, secret: str, path: str = "/slack/events") -> None:
        self.host, self.port, self.secret, self.path = host, port, secret, path
        self._connection = http.client.HTTPConnection(host, port, timeout=30)

    def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        signed: bool = True,
    ) -> Response:
        """POST ``body`` signed (unless ``signed`` is False) with any extra ``headers``."""
        sent = signed_headers(self.secret, body, content_type, timestamp=timestamp)
        if not signed:
            sent.pop("X-Slack-Signature")
        return self.raw(body.encode(), {**sent, **(headers or {})})

    def raw(self, body: bytes, headers: dict[str, str], path: str | None = None) -> Response:
        """POST exactly these bytes and headers."""
        try:
            self._connection.request("POST", path or self.path, body=body, headers=headers)
            answer = self._connection.getresponse()
        except (http.client.HTTPException, OSError):
            self._connection.close()  # the server dropped the keep-alive connection: reconnect
            self._connection.request("POST", path or self.path, body=body, headers=headers)
            answer = self._connection.getresponse()
        return Response(answer.status, answer.read())

    def get(self, path: str) -> Response:
        self._connection.request("GET", path)
        answer = self._connection.getresponse()
        return Response(answer.status, answer.read())

    def command(self, text: str, *, user: str, **options: Any) -> Response:
        return self.post(command_body(text, user=user, **options), FORM)

    def close(self) -> None:
        self._connection.close()
