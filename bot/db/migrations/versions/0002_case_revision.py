"""case revision: a counter every change to a case's history bumps

Services keep a per-process copy of each busy case's history and derived state; the revision
tells a copy still matches the database (another process may have written since).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 22:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``case.revision`` (0 for existing cases: no process holds a copy of them yet)."""
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Drop ``case.revision``."""
    with op.batch_alter_table("case") as batch:
        batch.drop_column("revision")
