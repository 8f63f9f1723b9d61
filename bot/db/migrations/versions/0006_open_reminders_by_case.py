"""open reminders by case: a partial index in place of (case_id, state)

Every recorded assessment resolves its case's open reassessments. With ``(case_id, state)`` the
states came as parameters, so the planner's generic plan scanned the case's every reminder, and
on a long case nearly all of them are resolved or cancelled: the resolve was the costliest part
of a record's write. The partial index holds open reminders only, and queries that name the open
states as literals (``bot.db.models.open_reminder``) read just those.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as migrations are: bot.db.models.OPEN_REMINDER_STATES.
OPEN_STATES = "state IN ('pending', 'sending', 'snoozed', 'sent', 'escalated')"


def upgrade() -> None:
    """Replace ``ix_reminder_case_state`` with ``ix_reminder_open_by_case``."""
    op.create_index(
        "ix_reminder_open_by_case",
        "reminder",
        ["case_id"],
        postgresql_where=sa.text(OPEN_STATES),
        sqlite_where=sa.text(OPEN_STATES),
    )
    op.drop_index("ix_reminder_case_state", table_name="reminder")


def downgrade() -> None:
    """Put ``ix_reminder_case_state`` back."""
    op.create_index("ix_reminder_case_state", "reminder", ["case_id", "state"])
    op.drop_index("ix_reminder_open_by_case", table_name="reminder")
