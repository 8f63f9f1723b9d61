"""The App Home tab: published when a user opens it (what toxbot is, and the commands)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext

from bot.services.api import Services
from handlers.blocks import render_home
from handlers.delivery import Poster


def register(app: App, *, services: Services, poster: Poster, dedupe: Callable[..., Any]) -> None:
    """Wire ``app_home_opened`` to ``views.publish`` (``dedupe``: Slack's repeats dropped)."""
    label = services.protocol.label

    @app.event("app_home_opened", middleware=[dedupe])
    def home_opened(event: dict[str, Any], context: BoltContext) -> None:
        if event.get("tab", "home") == "home" and context.user_id:
            poster.publish_home(context.user_id, render_home(label))
