"""awake reminders by wake time: a partial index in place of (state, wake_at)

The dispatcher asks two things of delivered reminders (sending, sent, escalated, snoozed) on
every pass: the earliest ``wake_at`` (when to wake next) and the rows whose ``wake_at`` has come,
oldest first (escalations, retries). Over ``(state, wake_at)`` with four states the planner
scanned the table for the first and sorted every due row for the second, so each pass cost more
as reminders accumulated. A partial index on ``wake_at`` holding only those states answers both
from its first entries, when the query names the states as literals
(``bot.db.models.awake_reminder``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as migrations are: bot.db.models.AWAKE_REMINDER_STATES.
AWAKE_STATES = "state IN ('sending', 'sent', 'escalated', 'snoozed')"


def upgrade() -> None:
    """Replace ``ix_reminder_state_wake`` with ``ix_reminder_awake_by_wake``."""
    op.create_index(
        "ix_reminder_awake_by_wake",
        "reminder",
        ["wake_at"],
        postgresql_where=sa.text(AWAKE_STATES),
        sqlite_where=sa.text(AWAKE_STATES),
    )
    op.drop_index("ix_reminder_state_wake", table_name="reminder")


def downgrade() -> None:
    """Put ``ix_reminder_state_wake`` back."""
    op.create_index("ix_reminder_state_wake", "reminder", ["state", "wake_at"])
    op.drop_index("ix_reminder_awake_by_wake", table_name="reminder")
