"""``toxbot audit verify`` in-process (``run_audit``) on a SQLite file at the newest schema."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from bot.cli_audit import add_audit_parser, run_audit
from bot.db.engine import make_engine, session_factory
from bot.db.migrate import upgrade
from bot.db.models import AuditEvent
from bot.services.audit import GENESIS, record_audit

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="toxbot")
    add_audit_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def verify(url: str | None) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = run_audit(parse("audit", "verify"), stdout, stderr, database_url=url)
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "toxbot.db"


@pytest.fixture
def engine(db_file: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{db_file}")
    upgrade(engine)
    yield engine
    engine.dispose()


def append(engine: Engine, count: int) -> list[str]:
    """``count`` committed events; their hashes in order."""
    sessions = session_factory(engine)
    for index in range(count):
        with sessions.begin() as session:
            record_audit(
                session,
                at=T0 + timedelta(minutes=index),
                actor="U0NURSE1",
                action="case.view",
                source="cli",
                role="nurse",
                case_code="CT-7K4Q",
                object_type="case",
                object_id="CT-7K4Q",
                detail={},
            )
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.hash).order_by(AuditEvent.id)))


def test_the_parser_returns_the_audit_command() -> None:
    parser = argparse.ArgumentParser(prog="toxbot")
    audit = add_audit_parser(parser.add_subparsers(dest="command"))
    assert audit.prog == "toxbot audit"
    assert parser.parse_args(["audit", "verify"]).audit_command == "verify"


def test_a_clean_chain_exits_0_then_tampering_exits_1_naming_the_row(
    engine: Engine, db_file: Path
) -> None:
    hashes = append(engine, 3)
    url = f"sqlite:///{db_file}"
    assert verify(url) == (0, f"audit chain intact: 3 rows, last hash {hashes[-1]}\n", "")

    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET actor = 'U0INTRUDER' WHERE id = 2"))
    status, out, err = verify(url)
    assert status == 1
    assert out == "row 2: contents altered (hash does not match)\n"
    assert "chain BROKEN: 1 bad row(s) of 3" in err


def test_a_removed_row_is_named_by_the_row_after_it(engine: Engine, db_file: Path) -> None:
    append(engine, 4)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_event WHERE id = 2"))
    status, out, _ = verify(f"sqlite:///{db_file}")
    assert status == 1
    assert out == (
        "row 3: previous-hash link broken after row 1 (a row removed, inserted or reordered)\n"
    )


def test_an_unreadable_row_is_named_not_a_crash(engine: Engine, db_file: Path) -> None:
    append(engine, 3)
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET detail = 'not json' WHERE id = 2"))
    status, out, _ = verify(f"sqlite:///{db_file}")
    assert status == 1
    assert out.startswith("row 2: contents unreadable")


def test_an_empty_chain_is_intact(engine: Engine, db_file: Path) -> None:
    assert verify(f"sqlite:///{db_file}") == (
        0,
        f"audit chain intact: 0 rows, last hash {GENESIS}\n",
        "",
    )


def test_the_url_comes_from_database_url_by_default(
    engine: Engine, db_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hashes = append(engine, 2)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db_file}")
    assert verify(None) == (0, f"audit chain intact: 2 rows, last hash {hashes[-1]}\n", "")


def test_a_missing_sqlite_file_exits_2_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "toxbot.db"
    status, out, err = verify(f"sqlite:///{missing}")
    assert (status, out) == (2, "")
    assert f"no database file at {missing}" in err
    assert not missing.parent.exists()


def test_a_database_without_the_schema_exits_2(tmp_path: Path) -> None:
    bare = tmp_path / "bare.db"
    make_engine(f"sqlite:///{bare}").connect().close()
    status, out, err = verify(f"sqlite:///{bare}")
    assert (status, out) == (2, "")
    assert "toxbot db upgrade" in err


def test_an_unreachable_server_exits_2_without_the_password() -> None:
    status, out, err = verify("postgresql+psycopg://toxbot:s3cret@127.0.0.1:1/toxbot")
    assert (status, out) == (2, "")
    assert "cannot reach the database at postgresql+psycopg://toxbot:***@127.0.0.1:1/toxbot" in err
    assert "s3cret" not in err


def test_not_a_url_exits_2() -> None:
    status, _, err = verify("not a url")
    assert status == 2
    assert "not a database URL" in err


def test_no_subcommand_exits_2() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    assert run_audit(parse("audit"), stdout, stderr, database_url="sqlite:///x.db") == 2
    assert "choose a subcommand: verify" in stderr.getvalue()
