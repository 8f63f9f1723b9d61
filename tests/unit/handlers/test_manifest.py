"""The Slack app manifest creates the app design §7 describes: /tox, its scopes and events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

MANIFEST = Path(__file__).resolve().parents[3] / "slack" / "manifest.yaml"
PLACEHOLDER = "https://toxbot.example.org/slack/events"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_the_tox_command_escapes_mentions_and_shows_a_usage_hint(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/tox"
    assert command["should_escape"] is True
    assert command["usage_hint"].startswith("assess CASE ")
    assert command["url"] == PLACEHOLDER
    assert 0 < len(command["description"]) <= 100


def test_the_bot_has_exactly_the_scopes_it_needs(manifest: dict[str, Any]) -> None:
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "im:write",
        "users:read",
        "files:write",
        "channels:history",
        "groups:history",
        "app_mentions:read",
    }
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_events_home_tab_interactivity_and_socket_mode(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    events = settings["event_subscriptions"]
    assert set(events["bot_events"]) == {
        "app_mention",
        "message.channels",
        "message.groups",
        "app_home_opened",
    }
    assert events["request_url"] == PLACEHOLDER
    assert settings["interactivity"] == {"is_enabled": True, "request_url": PLACEHOLDER}
    assert settings["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"] == "toxbot"


def test_the_descriptions_fit_slacks_limits(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert manifest["_metadata"]["major_version"] == 1
