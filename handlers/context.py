"""Who is acting on a Slack request, and through which surface: put on bolt's context once.

The actor middleware (``handlers.middleware``) stores an :class:`~bot.services.api.Actor` under
:data:`ACTOR`; listeners read it with :func:`actor_of` and pass it to every service call, which
checks the role (deny by default) and audits denials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from bot.services.api import Actor

ACTOR: Final = "toxbot_actor"
DELIVERY_KEY: Final = "toxbot_delivery_key"  # the dedupe key claimed for this delivery, if any


def source_of(body: Mapping[str, Any]) -> str:
    """The ``source`` recorded with what this request stores (design §3 ``assessment.source``)."""
    if "command" in body:
        return "slash"
    kind = body.get("type")
    if kind == "view_submission":
        return "modal"
    if kind == "block_actions":
        return "button"
    if kind == "event_callback":
        event = body.get("event") or {}
        return "home" if event.get("type") == "app_home_opened" else "message"
    return "slack"


def actor_of(context: Mapping[str, Any]) -> Actor:
    """The actor the middleware put on ``context``."""
    actor = context.get(ACTOR)
    if not isinstance(actor, Actor):  # pragma: no cover - the middleware always runs first
        raise RuntimeError("no actor on the request context: is handlers.middleware registered?")
    return actor
