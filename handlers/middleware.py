"""Middleware: who is acting (every request), and deliveries Slack repeats (acting listeners).

* **Actor.** Every request gets an :class:`~bot.services.api.Actor` (the Slack user and the
  surface) on its context, so every listener passes the same actor to the services, which check
  the role.
* **Event dedupe.** Slack retries an event it thinks was lost (``X-Slack-Retry-Num`` 1-3) and
  may deliver one twice. The first delivery of an ``event_id`` claims it in ``processed_event``;
  a later one is acknowledged and dropped before the listener runs. If handling the first one
  fails, the error handler forgets the claim, so Slack's retry is handled after all. Writes carry
  the event id as their idempotency key as well, so even a race stores once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.metrics import Metrics
from bot.services.api import Actor, Services
from handlers.context import ACTOR, DELIVERY_KEY, source_of

log = logging.getLogger("toxbot.slack")

PURGE_EVERY_S = 3600.0  # processed_event rows older than a day go about once an hour


def register(app: App) -> None:
    """Install the actor middleware on ``app`` (every request)."""
    app.use(ActorContext())


class ActorContext(Middleware):
    """Put the request's :class:`~bot.services.api.Actor` on its context.

    A ``Middleware`` of its own rather than an ``@app.middleware`` function: bolt finds a
    function's arguments by inspecting it on every request, and this runs on every one.
    """

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,  # noqa: ARG002 - bolt passes it by this name
        next: Callable[[], BoltResponse],
    ) -> BoltResponse | None:
        req.context[ACTOR] = Actor(req.context.user_id or "", source_of(req.body))
        return next()


def event_dedupe(services: Services, metrics: Metrics) -> Callable[..., BoltResponse | None]:
    """Listener middleware: the first delivery of an ``event_id`` goes on, repeats are dropped.

    On the listeners that act (an ``assess`` message, a mention, the home tab), not globally,
    so ordinary channel chatter costs no database write.
    """
    last_purge = [time.monotonic()]

    def dedupe_events(
        request: BoltRequest,
        context: BoltContext,
        body: dict[str, Any],
        next: Callable[[], None],
    ) -> BoltResponse | None:
        event_id = body.get("event_id")
        if not isinstance(event_id, str):
            next()
            return None
        retry = _header(request, "x-slack-retry-num")
        if retry is not None:
            metrics.count("slack_retries", reason=_header(request, "x-slack-retry-reason") or "")
        key = f"event:{event_id}"
        if not services.first_delivery(key):
            metrics.count("duplicates_dropped", kind="event")
            log.info("dropped a repeated delivery of an event (retry %s)", retry or "0")
            return BoltResponse(status=200, body="")
        context[DELIVERY_KEY] = key
        if time.monotonic() - last_purge[0] > PURGE_EVERY_S:
            last_purge[0] = time.monotonic()
            services.purge_deliveries()
        next()
        return None

    return dedupe_events


def _header(request: BoltRequest, name: str) -> str | None:
    values = request.headers.get(name)
    return values[0] if values else None
