"""Alembic environment: runs migrations on the connection toxbot passes in (never a URL here)."""

from __future__ import annotations

from alembic import context

from bot.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guarded: migrations run through bot.db.migrate
    raise RuntimeError("run migrations with `toxbot db upgrade` (bot.db.migrate.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
