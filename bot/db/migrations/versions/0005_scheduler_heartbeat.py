"""scheduler heartbeat: one row per process running the reminder scheduler

Each process running the scheduler (``toxbot serve``, the console) writes its row every sweep:
who it is (host and process id), whether it holds the scheduler leadership, and when it last
beat. An operator (or a health check) reads here which process dispatches reminders and
whether it is alive; a leader whose beat is stale has stopped.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``scheduler_heartbeat``."""
    op.create_table(
        "scheduler_heartbeat",
        sa.Column("process", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("leader", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("process", name=op.f("pk_scheduler_heartbeat")),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("scheduler_heartbeat")
