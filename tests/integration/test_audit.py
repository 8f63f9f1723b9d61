"""The audit hash chain on both engines: appends link up; any tampering is named by row."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AuditEvent
from bot.services.audit import GENESIS, record_audit, verify_chain

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def append(sessions: sessionmaker[Session], count: int, actor: str = "U0NURSE1") -> None:
    for index in range(count):
        with sessions.begin() as session:
            record_audit(
                session,
                at=T0 + timedelta(minutes=index),
                actor=actor,
                action="assessment.record",
                source="slash",
                role="nurse",
                case_code="CT-7K4Q",
                object_type="assessment",
                object_id=str(index),
                detail={"crs": index % 4},
            )


def ids(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def report(sessions: sessionmaker[Session]) -> Any:
    with sessions() as session:
        return verify_chain(session)


def test_an_empty_chain_is_intact(sessions: sessionmaker[Session]) -> None:
    result = report(sessions)
    assert result.ok
    assert (result.rows, result.last_hash) == (0, GENESIS)


def test_appended_rows_link_from_the_genesis_hash(sessions: sessionmaker[Session]) -> None:
    append(sessions, 5)
    result = report(sessions)
    assert result.ok, result.problems
    assert result.rows == 5
    with sessions() as session:
        first = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
    assert first is not None
    assert first.prev_hash == GENESIS


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "U0SOMEONE"),
        ("role", "admin"),
        ("action", "case.view"),
        ("case_code", "CT-XXXX"),
        ("object_type", "dose"),
        ("object_id", "999"),
        ("source", "console"),
        ("detail", {"crs": 4}),
        ("at", T0 + timedelta(days=1)),
    ],
)
def test_altering_any_field_is_named_by_row(
    sessions: sessionmaker[Session], column: str, value: object
) -> None:
    append(sessions, 5)
    target = ids(sessions)[2]
    with sessions.begin() as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == target).values({column: value}))
    result = report(sessions)
    assert not result.ok
    assert result.problems == (f"row {target}: contents altered (hash does not match)",)


def test_a_removed_middle_row_is_named(sessions: sessionmaker[Session]) -> None:
    append(sessions, 5)
    rows = ids(sessions)
    with sessions.begin() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == rows[2]))
    result = report(sessions)
    assert result.problems == (
        f"row {rows[3]}: previous-hash link broken after row {rows[1]} "
        "(a row removed, inserted or reordered)",
    )


def test_two_rows_reordered_are_named(sessions: sessionmaker[Session]) -> None:
    append(sessions, 5)
    rows = ids(sessions)
    first, second = rows[1], rows[3]
    with sessions.begin() as session:  # swap the two rows' places in the order
        session.execute(update(AuditEvent).where(AuditEvent.id == first).values(id=-1))
        session.execute(update(AuditEvent).where(AuditEvent.id == second).values(id=first))
        session.execute(update(AuditEvent).where(AuditEvent.id == -1).values(id=second))
    result = report(sessions)
    assert not result.ok
    named = {problem.split(":")[0] for problem in result.problems}
    assert {f"row {first}", f"row {second}"} <= named, result.problems


def test_a_forged_row_inserted_is_named(sessions: sessionmaker[Session]) -> None:
    append(sessions, 3)
    with sessions.begin() as session:
        session.add(
            AuditEvent(
                at=T0,
                actor="U0FORGER",
                action="role.set",
                source="slash",
                detail={},
                prev_hash="f" * 64,
                hash="e" * 64,
            )
        )
    result = report(sessions)
    assert not result.ok
    assert len(result.problems) == 2  # its link and its own hash


def test_free_text_never_enters_the_trail(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session, pytest.raises(ValueError, match="free text"):
        record_audit(
            session,
            at=T0,
            actor="U0NURSE1",
            action="assessment.record",
            source="slash",
            detail={"note": "wife visits at 5"},
        )


def test_concurrent_appends_keep_one_linear_chain(sessions: sessionmaker[Session]) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        barrier.wait()
        try:
            append(sessions, 20, actor=name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"U0WRITER{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    result = report(sessions)
    assert result.ok, result.problems
    assert result.rows == 80
