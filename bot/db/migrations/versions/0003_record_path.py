"""record path: reminders by case, and the audit chain's head read under its lock in one call

* ``ix_reminder_case_state``: every recorded assessment resolves its case's open reminders; the
  ``(state, due_at)`` index alone made that a scan of every open reminder (and of their dead
  versions until vacuum).
* PostgreSQL only, ``toxbot_audit_chain_head()``: takes the chain's advisory lock, refuses a
  snapshot isolation level, and returns the newest row's hash. It is VOLATILE, so its query runs
  on a fresh snapshot taken after the lock is granted: the hash it returns really is the last
  one. One round trip instead of two for every audited call (``bot.services.audit``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 22:15:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as migrations are: bot.services.audit.CHAIN_LOCK_KEY and SNAPSHOT_REFUSED.
CHAIN_LOCK_KEY = 7_461_237_501
SNAPSHOT_REFUSED = "TXB01"

CHAIN_HEAD = f"""
CREATE FUNCTION toxbot_audit_chain_head() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    isolation text := current_setting('transaction_isolation');
BEGIN
    IF isolation <> 'read committed' THEN
        RAISE EXCEPTION 'audit events need READ COMMITTED, not %: a snapshot taken before the '
            'chain lock would read a stale last hash and fork the chain', upper(isolation)
            USING ERRCODE = '{SNAPSHOT_REFUSED}';
    END IF;
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK_KEY});
    RETURN coalesce(
        (SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1), repeat('0', 64)
    );
END
$$;
"""


def upgrade() -> None:
    """Add the reminder index, and the chain-head function on PostgreSQL."""
    op.create_index("ix_reminder_case_state", "reminder", ["case_id", "state"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHAIN_HEAD)


def downgrade() -> None:
    """Drop them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION toxbot_audit_chain_head()")
    op.drop_index("ix_reminder_case_state", table_name="reminder")
