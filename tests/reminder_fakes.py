"""A recording notifier for reminder tests: keeps every message, answers from a script."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from reminders.notifier import Delivery, ReminderMessage

Script = Callable[[ReminderMessage], Delivery]


def always_sent(message: ReminderMessage) -> Delivery:
    """Every delivery succeeds, at a fake DM channel and ts."""
    return Delivery.sent(
        channel=f"D{message.target.id}", ts=f"{message.reminder_id}.{message.attempt}"
    )


@dataclass
class RecordingNotifier:
    """Records each message it is given; ``script`` decides how each delivery goes."""

    script: Script = always_sent
    messages: list[ReminderMessage] = field(default_factory=list)

    def deliver(self, message: ReminderMessage) -> Delivery:
        self.messages.append(message)
        return self.script(message)

    def to(self, target_id: str) -> list[ReminderMessage]:
        """The messages sent to one user or channel."""
        return [m for m in self.messages if m.target.id == target_id]
