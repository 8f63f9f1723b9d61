"""Migrations from an empty database to head, on both engines."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect

from bot.db.engine import make_engine
from bot.db.migrate import current_revision, downgrade, head_revision, upgrade
from bot.db.models import Base


def test_database_fixture_is_at_head_with_every_table(database: Engine) -> None:
    assert current_revision(database) == head_revision()
    assert set(Base.metadata.tables) <= set(inspect(database).get_table_names())


def test_upgrade_from_empty_to_head_and_again_is_a_no_op(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh' / 'toxbot.db'}")
    assert current_revision(engine) is None
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_hot_queries_have_their_indexes(database: Engine) -> None:
    """A case's history by time, and due reminders by state and time (design §10)."""
    inspector = inspect(database)
    assessment = {tuple(ix["column_names"]) for ix in inspector.get_indexes("assessment")}
    reminder = {tuple(ix["column_names"]) for ix in inspector.get_indexes("reminder")}
    assert ("case_id", "assessed_at") in assessment
    assert ("state", "due_at") in reminder
    assert ("case_id",) in reminder  # open ones only: every record resolves its case's open ones


def test_every_migration_downgrades_to_empty_and_upgrades_again(database: Engine) -> None:
    """Each downgrade undoes its upgrade (on PostgreSQL too: the chain-head function)."""
    downgrade(database, "base")
    assert current_revision(database) is None
    assert not set(Base.metadata.tables) & set(inspect(database).get_table_names())
    upgrade(database)
    assert current_revision(database) == head_revision()


def test_the_models_match_the_migrations(database: Engine) -> None:
    """Autogenerate finds nothing to add: no model change ships without its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with database.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
