"""reminder delivery: what the dispatcher needs to deliver, snooze, acknowledge and escalate

* ``wake_at``: when the dispatcher next has to look at a row that is not pending (a repeat, an
  escalation, the end of a snooze); pending rows wake at ``due_at``. Indexed with ``state`` so
  the sweep and ``next_due_at()`` read an index range, not every open reminder.
* ``sent_at``: the last delivery to the recipient at level 0 (the acknowledgement clock starts
  there; a snooze's end sends again); ``escalated_at``: the last escalation; ``overdue``: the
  assessment was still not recorded ``overdue_after_min`` after due.
* ``snooze_count``: at most the protocol's ``max_snoozes``.
* ``acknowledged_by`` / ``acknowledged_at``: who pressed Acknowledge, and when.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 22:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the delivery columns and the ``(state, wake_at)`` index."""
    with op.batch_alter_table("reminder") as batch:
        batch.add_column(sa.Column("wake_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("overdue", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("snooze_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_reminder_state_wake", ["state", "wake_at"], unique=False)


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("reminder") as batch:
        batch.drop_index("ix_reminder_state_wake")
        batch.drop_column("acknowledged_at")
        batch.drop_column("acknowledged_by")
        batch.drop_column("snooze_count")
        batch.drop_column("overdue")
        batch.drop_column("escalated_at")
        batch.drop_column("sent_at")
        batch.drop_column("wake_at")
