"""The audit hash chain on both engines: appends link up; any tampering is named by its row.

Tampering is done the way an intruder would: raw SQL or ORM updates behind ``record_audit``'s
back. Each test runs on SQLite and on PostgreSQL (the ``database`` fixture).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import is_postgresql
from bot.db.models import AuditEvent
from bot.services.audit import (
    GENESIS,
    HASHED_FIELDS,
    AuditReport,
    event_hash,
    record_audit,
    verify_chain,
)

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
LINK = "previous-hash link broken after row {} (a row removed, inserted or reordered)"
ALTERED = "contents altered (hash does not match)"


def record(session: Session, index: int = 0, **changes: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "at": T0 + timedelta(minutes=index),
        "actor": "U0NURSE1",
        "action": "assessment.record",
        "source": "slash",
        "role": "nurse",
        "case_code": "CT-7K4Q",
        "object_type": "assessment",
        "object_id": str(index),
        "detail": {"crs": index % 4, "icans": None, "flags": ["a", "b"]},
    }
    return record_audit(session, **(fields | changes))


def append(sessions: sessionmaker[Session], count: int, actor: str = "U0NURSE1") -> None:
    """``count`` events, one committed transaction each."""
    for index in range(count):
        with sessions.begin() as session:
            record(session, index, actor=actor)


def ids(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def hashes(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent.hash).order_by(AuditEvent.id)))


def report(sessions: sessionmaker[Session]) -> AuditReport:
    with sessions() as session:
        return verify_chain(session)


# --- an intact chain ---------------------------------------------------------------------------


def test_an_empty_chain_is_intact(sessions: sessionmaker[Session]) -> None:
    assert report(sessions) == AuditReport(ok=True, rows=0, problems=(), last_hash=GENESIS)


def test_appended_rows_link_from_the_genesis_hash(sessions: sessionmaker[Session]) -> None:
    append(sessions, 5)
    result = report(sessions)
    assert result == AuditReport(ok=True, rows=5, problems=(), last_hash=hashes(sessions)[-1])
    with sessions() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert events[0].prev_hash == GENESIS
    assert [event.prev_hash for event in events[1:]] == [event.hash for event in events[:-1]]
    assert all(event_hash(event) == event.hash for event in events)


@pytest.mark.parametrize(
    "text",
    [
        'quote " backslash \\ slash /',
        "unicode: 38.5 °C, Ödem, 発熱, 🧪",
        "controls: \t tab \n newline \u2028 separator \x01",
        "a uuid-looking 0123456789abcdef0123456789abcdef",
    ],
)
def test_the_hash_the_database_computes_is_the_one_verify_recomputes(
    sessions: sessionmaker[Session], text: str
) -> None:
    """On PostgreSQL the server hashes the canonical JSON assembled from fragments cut here;
    text that JSON escapes, or that is not ASCII, must hash exactly as Python hashes it."""
    with sessions.begin() as session:
        event = record(session, actor=text[:40], case_code=text[:24], detail={"k": text})
    assert event.hash == event_hash(event)
    with sessions() as session:
        stored = session.get_one(AuditEvent, event.id)
        assert stored.hash == event_hash(stored)
    assert report(sessions).ok


def test_events_in_one_transaction_chain_in_order(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = record(session, 0)
        second = record(session, 1, action="case.view", detail={})
        assert second.prev_hash == first.hash
    assert report(sessions).ok


def test_a_transaction_that_wrote_first_appends_in_one_insert_and_still_links(
    sessions: sessionmaker[Session],
) -> None:
    """``write_locked``: SQLite already holds the write lock, so the last hash is read first."""
    append(sessions, 2)
    with sessions.begin() as session:
        session.execute(text("UPDATE audit_event SET id = id WHERE 0 = 1"))  # a first write
        event = record(session, 2, write_locked=True)
        after = record(session, 3, write_locked=True)
    assert event.prev_hash == hashes(sessions)[1]
    assert after.prev_hash == event.hash
    assert report(sessions).ok


def test_the_event_lives_and_dies_with_the_callers_transaction(
    sessions: sessionmaker[Session],
) -> None:
    session = sessions()
    record(session)
    assert report(sessions).rows == 0  # not committed: record_audit never commits
    session.rollback()
    session.close()
    assert report(sessions).rows == 0
    append(sessions, 1)
    with sessions() as session:
        assert session.scalars(select(AuditEvent.prev_hash)).one() == GENESIS


def test_at_is_hashed_in_utc_whatever_zone_it_came_in(sessions: sessionmaker[Session]) -> None:
    paris = timezone(timedelta(hours=1))
    with sessions.begin() as session:
        event = record(session, at=datetime(2026, 11, 20, 9, 0, tzinfo=paris))
    assert event.at == T0
    assert event.at.tzinfo == UTC
    assert report(sessions).ok


def test_a_naive_moment_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(ValueError, match="naive"):
        record(session, at=datetime(2026, 11, 20, 8, 0))  # naive on purpose


def test_the_hash_covers_every_column_but_id_and_hash() -> None:
    columns = {column.name for column in AuditEvent.__table__.columns}
    assert set(HASHED_FIELDS) == columns - {"id", "hash"}


# --- detail: structured facts only -------------------------------------------------------------


@pytest.mark.parametrize(
    "detail",
    [
        {"note": "wife visits at 5"},
        {"notes": "wife visits at 5"},
        {"text": "wife visits at 5"},
        {"free_text": "wife visits at 5"},
        {"Note": "wife visits at 5"},
        {"free-text": "wife visits at 5"},
        {"inputs": {"temp": 39.1, "note": "wife visits at 5"}},
        {"items": [{"text": "wife visits at 5"}]},
    ],
)
def test_free_text_never_enters_the_trail(
    sessions: sessionmaker[Session], detail: dict[str, Any]
) -> None:
    with sessions() as session:
        with pytest.raises(ValueError, match="free text") as refused:
            record(session, detail=detail)
        assert "wife" not in str(refused.value)  # the message names the key, never the text
        session.rollback()
    assert report(sessions).rows == 0


@pytest.mark.parametrize(
    "detail",
    [{"at": T0}, {"temp": float("nan")}, {"ids": {1, 2}}, {1: "one"}],
    ids=["datetime", "nan", "set", "int-key"],
)
def test_detail_must_be_plain_json(sessions: sessionmaker[Session], detail: Any) -> None:
    with sessions() as session, pytest.raises(ValueError, match="audit detail"):
        record(session, detail=detail)


def test_detail_is_stored_as_it_is_hashed(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        record(session, detail={"doses": (1, 2.5), "drug": "tocilizumab", "µ": "ü"})
    with sessions() as session:
        stored = session.scalars(select(AuditEvent.detail)).one()
    assert stored == {"doses": [1, 2.5], "drug": "tocilizumab", "µ": "ü"}
    assert report(sessions).ok


# --- tampering ---------------------------------------------------------------------------------


def raw_update(engine: Engine, column: str, value: str, row: int) -> None:
    """An intruder's UPDATE, straight SQL, bypassing the ORM and its types."""
    cast = "CAST(:value AS json)" if column == "detail" and is_postgresql(engine) else ":value"
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE audit_event SET {column} = {cast} WHERE id = :id"),
            {"value": value, "id": row},
        )


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "U0SOMEONE"), ("detail", '{"crs": 4, "icans": null, "flags": ["a", "b"]}')],
)
def test_a_raw_sql_edit_is_named_by_row(
    database: Engine, sessions: sessionmaker[Session], column: str, value: str
) -> None:
    append(sessions, 5)
    target = ids(sessions)[2]
    raw_update(database, column, value, target)
    assert report(sessions).problems == (f"row {target}: {ALTERED}",)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("at", T0 + timedelta(days=1)),
        ("at", T0 + timedelta(microseconds=1)),
        ("actor", "U0SOMEONE"),
        ("role", "admin"),
        ("role", None),
        ("action", "case.view"),
        ("case_code", "CT-XXXX"),
        ("case_code", None),
        ("object_type", "dose"),
        ("object_id", "999"),
        ("source", "console"),
        ("detail", {"crs": 4, "icans": None, "flags": ["a", "b"]}),
        ("detail", {"crs": 2, "icans": None, "flags": ["b", "a"]}),
        ("detail", {}),
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
    assert result.problems == (f"row {target}: {ALTERED}",)


def test_an_altered_link_is_named_by_row(sessions: sessionmaker[Session]) -> None:
    append(sessions, 5)
    rows = ids(sessions)
    with sessions.begin() as session:
        session.execute(
            update(AuditEvent).where(AuditEvent.id == rows[2]).values(prev_hash="a" * 64)
        )
    assert report(sessions).problems == (f"row {rows[2]}: {ALTERED}; {LINK.format(rows[1])}",)


def test_an_altered_hash_is_named_with_the_link_after_it(
    sessions: sessionmaker[Session],
) -> None:
    append(sessions, 5)
    rows = ids(sessions)
    with sessions.begin() as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == rows[2]).values(hash="a" * 64))
    assert report(sessions).problems == (
        f"row {rows[2]}: {ALTERED}",
        f"row {rows[3]}: {LINK.format(rows[2])}",
    )


def test_a_rewritten_row_with_a_recomputed_hash_breaks_the_next_link(
    sessions: sessionmaker[Session],
) -> None:
    append(sessions, 5)
    rows = ids(sessions)
    with sessions.begin() as session:
        event = session.get_one(AuditEvent, rows[2])
        event.actor = "U0SOMEONE"
        event.hash = event_hash(event)
    assert report(sessions).problems == (f"row {rows[3]}: {LINK.format(rows[2])}",)


def test_a_removed_middle_row_is_named(sessions: sessionmaker[Session]) -> None:
    append(sessions, 5)
    rows = ids(sessions)
    with sessions.begin() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == rows[2]))
    result = report(sessions)
    assert result.rows == 4
    assert result.problems == (f"row {rows[3]}: {LINK.format(rows[1])}",)


def test_a_removed_first_row_is_named(sessions: sessionmaker[Session]) -> None:
    append(sessions, 3)
    rows = ids(sessions)
    with sessions.begin() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == rows[0]))
    assert report(sessions).problems == (f"row {rows[1]}: does not start from the genesis hash",)


def test_a_removed_last_row_shows_only_against_an_earlier_report(
    sessions: sessionmaker[Session],
) -> None:
    """The documented limitation: a chain cut at its end is still a valid chain."""
    append(sessions, 5)
    earlier = report(sessions)
    with sessions.begin() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids(sessions)[-1]))
    later = report(sessions)
    assert later.ok  # undetectable by the chain alone ...
    assert (later.rows, later.last_hash) != (earlier.rows, earlier.last_hash)  # ... but not here


def test_two_rows_with_their_contents_swapped_are_named(sessions: sessionmaker[Session]) -> None:
    append(sessions, 5)
    rows = ids(sessions)
    with sessions() as session:
        contents = {
            row.id: {name: getattr(row, name) for name in (*HASHED_FIELDS, "hash")}
            for row in session.scalars(select(AuditEvent))
        }
    a, b = rows[1], rows[3]
    with sessions.begin() as session:  # the hash is unique: move one aside first
        session.execute(update(AuditEvent).where(AuditEvent.id == b).values(hash="x" * 64))
        session.execute(update(AuditEvent).where(AuditEvent.id == a).values(contents[b]))
        session.execute(update(AuditEvent).where(AuditEvent.id == b).values(contents[a]))
    result = report(sessions)
    assert not result.ok
    assert all(ALTERED not in problem for problem in result.problems)  # each row self-consistent
    assert result.problems == (
        f"row {rows[1]}: {LINK.format(rows[0])}",
        f"row {rows[2]}: {LINK.format(rows[1])}",
        f"row {rows[3]}: {LINK.format(rows[2])}",
        f"row {rows[4]}: {LINK.format(rows[3])}",
    )


def test_two_rows_reordered_by_id_are_named(sessions: sessionmaker[Session]) -> None:
    append(sessions, 5)
    rows = ids(sessions)
    a, b = rows[1], rows[3]
    with sessions.begin() as session:  # swap the two rows' places in the order
        session.execute(update(AuditEvent).where(AuditEvent.id == a).values(id=-1))
        session.execute(update(AuditEvent).where(AuditEvent.id == b).values(id=a))
        session.execute(update(AuditEvent).where(AuditEvent.id == -1).values(id=b))
    named = {problem.split(":")[0] for problem in report(sessions).problems}
    assert named == {f"row {row}" for row in rows[1:]}


def test_a_row_inserted_with_a_forged_link_is_named(sessions: sessionmaker[Session]) -> None:
    append(sessions, 3)
    last = ids(sessions)[-1]
    with sessions.begin() as session:
        forged = AuditEvent(
            at=T0,
            actor="U0FORGER",
            action="role.set",
            source="slash",
            detail={"role": "admin"},
            prev_hash="f" * 64,
        )
        forged.hash = event_hash(forged)  # self-consistent: only the link gives it away
        session.add(forged)
        session.flush()
        forged_id = forged.id
    assert report(sessions).problems == (f"row {forged_id}: {LINK.format(last)}",)


def test_a_row_inserted_with_a_made_up_hash_is_named_once(
    sessions: sessionmaker[Session],
) -> None:
    append(sessions, 3)
    last = ids(sessions)[-1]
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
    assert report(sessions).problems == (f"row {last + 1}: {ALTERED}; {LINK.format(last)}",)


# SQLite only: PostgreSQL's column types refuse a value they could not read back.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_unreadable_value_is_named_and_the_rest_still_checked(
    database: Engine, sessions: sessionmaker[Session]
) -> None:
    append(sessions, 5)
    rows = ids(sessions)
    raw_update(database, "at", "not a time", rows[1])
    raw_update(database, "actor", "U0SOMEONE", rows[3])
    result = report(sessions)
    assert result.rows == 5
    assert [problem.split(":")[0] for problem in result.problems] == [
        f"row {rows[1]}",
        f"row {rows[3]}",
    ]
    assert "contents unreadable" in result.problems[0]
    assert result.problems[1] == f"row {rows[3]}: {ALTERED}"


# --- concurrent writers ------------------------------------------------------------------------


def test_a_second_writer_waits_until_the_first_commits(
    database: Engine, sessions: sessionmaker[Session]
) -> None:
    """The chain lock is held from the append to the end of the writer's transaction."""
    first, second = sessions(), sessions()
    try:
        held = record(first, 0)
        if is_postgresql(database):  # the advisory lock
            second.execute(text("SET LOCAL lock_timeout = '200ms'"))
        else:  # SQLite's write lock
            second.connection().exec_driver_sql("PRAGMA busy_timeout = 200")
        with pytest.raises(OperationalError):
            record(second, 1)
        second.rollback()
        first.commit()
        retried = record(second, 1)  # the retry: a new transaction, now after the first
        second.commit()
        assert retried.prev_hash == held.hash
    finally:
        first.close()
        second.close()
    assert report(sessions).rows == 2
    assert report(sessions).ok


def test_concurrent_appends_keep_one_linear_chain(sessions: sessionmaker[Session]) -> None:
    """4 threads x 20 events, each its own session committing per event (WAL + busy timeout
    on SQLite, the advisory lock on PostgreSQL): one chain of 80, no event lost."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            barrier.wait()
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
    with sessions() as session:
        actors = list(session.scalars(select(AuditEvent.actor)))
    assert sorted(actors) == sorted(f"U0WRITER{i}" for i in range(4) for _ in range(20))


# PostgreSQL only: SQLite's write lock needs no isolation level.
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_snapshot_isolation_is_refused_on_postgresql(database: Engine) -> None:
    with Session(database.execution_options(isolation_level="REPEATABLE READ")) as session:
        with pytest.raises(RuntimeError, match="READ COMMITTED"):
            record(session)
        session.rollback()
