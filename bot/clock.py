"""Time as a dependency: services ask a clock, so tests can stand still or jump (injected)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time, timezone-aware."""

    def now(self) -> datetime:
        """The current moment, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current moment, in UTC."""
        return datetime.now(UTC)
