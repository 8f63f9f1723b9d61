"""Write what one recorded assessment stores, in as few round trips as the engine allows.

A record stores three things at once: the assessment row, its audit event (chained to the one
before, and naming the assessment's id) and the reminders it implies (the case's open
reassessments resolved, the next ones scheduled), and bumps the case's revision. The content is
the same on every engine; how it travels differs:

* SQLite runs in the process: each statement costs microseconds, so they run one after another
  in the caller's transaction, which began by locking and bumping the case
  (:func:`bot.services.cases.active_case`, or on a kept copy :func:`bump_kept_case`, which
  checks what was not read). They run as driver SQL (:mod:`bot.db.driver_sql`), the rows
  converted as Core converts them: Core's own work on each statement cost several times
  SQLite's. :func:`bot.services.audit.append_after_write` appends the event.
* PostgreSQL is a round trip per statement, and each one costs more than the server's work on
  it. ONE statement does it all, on a connection in autocommit: being one statement, it is one
  transaction by itself, so it needs no BEGIN and no COMMIT. Its CTEs (PostgreSQL runs each
  data-modifying CTE exactly once, whether or not the main statement reads it):

  - ``bumped`` moves the case to the record's revision if it is still at the one before and
    active, and, when a ``member`` is named, that member still holds the ``role`` the event
    records. Every other CTE writes only if it did: a write that came first (another process, a
    dose) or a role changed since it was read leaves nothing written, and the caller reads and
    grades again (optimistic concurrency; :func:`bot.services.cases.case_for_record` only read
    the case, and a record on a kept copy read nothing at all).
  - ``head`` takes the audit chain's lock and reads its last hash
    (``toxbot_audit_chain_head()``, migration 0003) and reserves the assessment's id;
  - the assessment is inserted with that id, the open reassessments resolved, the next reminders
    scheduled (a refractory flag's re-reviews only if the last flag's are no longer open, D16:
    :func:`bot.services.reminder_plan.next_reminders` left that to this statement), and the
    event appended with its hash computed by the server from the canonical
    JSON fragments made here (:func:`bot.services.audit.canonical_parts`), the id and the
    previous hash. The chain's lock is held for this statement only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, cast

import orjson
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.db import models
from bot.db.driver_sql import AutocommitConnection, DriverInsert, converter, run_on_driver
from bot.services import audit
from bot.services.cases import LockedCase
from bot.services.reminder_plan import (
    REASSESSMENT_KINDS,
    REFRACTORY_REVIEW,
    SCHEDULED_COLUMNS,
)

_ASSESSMENTS: Final = cast(Table, models.Assessment.__table__)
_EVENTS: Final = cast(Table, models.AuditEvent.__table__)
_REMINDERS: Final = cast(Table, models.Reminder.__table__)
_NEXT_ID: Final = "nextval(pg_get_serial_sequence('assessment', 'id'))"


def write_record(
    writer: Session | Connection | AutocommitConnection,
    *,
    assessment: Mapping[str, Any],
    event: Mapping[str, Any],
    reminders: list[dict[str, Any]],
    case: LockedCase,
    at: datetime,
    member: str | None = None,
) -> int | None:
    """Store the assessment, its audit event and its reminders; return the assessment's id.

    ``event`` holds :func:`bot.services.audit.record_audit`'s arguments but ``object_id``, which
    is the new assessment's id. ``reminders`` are the rows to schedule
    (:func:`bot.services.reminder_plan.next_reminders`); the case's open reassessments are
    resolved first. ``case`` is what :func:`bot.services.cases.case_for_record` gave (or a kept
    copy of it). ``writer`` is the transaction's session or connection; on PostgreSQL a
    connection is in autocommit (the one statement is the transaction;
    :func:`bot.db.driver_sql.autocommit_connection`), on SQLite one has bumped the case
    already (:func:`bump_kept_case`). ``member`` (PostgreSQL only): a member whose role was not
    read in this transaction; the write happens only if they still hold ``event["role"]``.
    None on PostgreSQL when the case was written to (or closed) since it was read, or the
    member's role is not that one: nothing is stored.
    """
    if isinstance(writer, AutocommitConnection):  # PostgreSQL's, from autocommit_connection
        return _write_in_one_statement(writer, assessment, event, reminders, case, at, member)
    connection = writer if isinstance(writer, Connection) else writer.connection()
    if connection.dialect.name == "postgresql":
        return _write_in_one_statement(connection, assessment, event, reminders, case, at, member)
    if member is not None:
        raise ValueError("on SQLite, bump_kept_case checks the member's role, before this")
    return _write_on_sqlite(connection, assessment, event, reminders, case, at)


def _write_on_sqlite(
    connection: Connection,
    assessment: Mapping[str, Any],
    event: Mapping[str, Any],
    reminders: list[dict[str, Any]],
    case: LockedCase,
    at: datetime,
) -> int:
    """The record's statements one after another, as driver SQL (:mod:`bot.db.driver_sql`):
    the same rows as Core would write, without its work on each call."""
    dialect = connection.dialect
    insert_assessment = DriverInsert.for_columns(
        _ASSESSMENTS, tuple(assessment), dialect, returning="id"
    )
    ((returned,),) = insert_assessment.run(connection, assessment)
    assessment_id = int(returned)
    audit.append_after_write(connection, audit.audit_values(**event, object_id=str(assessment_id)))
    moment = converter(_REMINDERS, "updated_at", dialect)(at)
    run_on_driver(connection, _RESOLVE_ON_SQLITE, (moment, case.id))
    if reminders:
        DriverInsert.for_columns(_REMINDERS, SCHEDULED_COLUMNS, dialect).run_many(
            connection, reminders
        )
    return assessment_id


def bump_kept_case(
    connection: Connection, case: LockedCase, *, member: str | None, role: str | None
) -> bool:
    """SQLite, a record on a kept copy: move the case to ``case.revision`` if it is still at
    the one before and active, and, when a ``member`` is named, that member still holds
    ``role``; whether it did. The first statement of the record's transaction: it takes
    SQLite's write lock, so nothing can change the case before the record commits. False:
    another write came first (or the role or the case changed); nothing was written, and the
    caller reads and grades again, as after PostgreSQL's one statement found the same.
    """
    bumped = run_on_driver(
        connection,
        _BUMP_KEPT,
        {"case": case.id, "revision": case.revision, "member": member, "role": role},
    )
    return int(bumped.rowcount) == 1


_BUMP_KEPT: Final = """
    UPDATE "case" SET revision = :revision
    WHERE id = :case AND revision = :revision - 1 AND status = 'active'
    AND (:member IS NULL OR EXISTS (
        SELECT 1 FROM member WHERE slack_user_id = :member AND role = :role
    ))
"""
"""Driver SQL (:func:`bot.db.driver_sql.run_on_driver`), with named parameters."""


def _write_in_one_statement(
    connection: Connection | AutocommitConnection,
    assessment: Mapping[str, Any],
    event: Mapping[str, Any],
    reminders: list[dict[str, Any]],
    case: LockedCase,
    at: datetime,
    member: str | None,
) -> int | None:
    values = audit.audit_values(**event, object_id=None)
    parameters = {
        "case": case.id,
        "revision": case.revision,
        "member": member,
        "role": event["role"],
        "at": at,
        "assessment": _as_json(assessment),
        "event": _as_json({name: values[name] for name in _EVENT_CONTENT}),
        "reminders": _as_json(reminders),
        **audit.part_parameters(audit.canonical_parts(values, ("object_id", "prev_hash"))),
    }
    try:
        row = run_on_driver(connection, _ONE_STATEMENT, parameters).fetchone()
    except DBAPIError as exc:
        audit.refuse_snapshot(exc)
        raise
    return None if row is None else int(row[0])


def _columns(table: Table, *, without: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if c.name not in without)


def _listed(names: tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{name}" for name in names)


_ASSESSMENT_COLUMNS: Final = _columns(_ASSESSMENTS, without=("id",))
_EVENT_CONTENT: Final = tuple(
    name for name in audit.HASHED_FIELDS if name not in {"object_id", "prev_hash"}
)
_OPEN = models.open_reminder().compile(compile_kwargs={"literal_binds": True})
_REASSESSMENTS = ", ".join(f"'{kind}'" for kind in REASSESSMENT_KINDS)
_RESOLVE_ON_SQLITE: Final = f"""
UPDATE reminder SET state = 'resolved', updated_at = ?, version = version + 1
WHERE case_id = ? AND kind IN ({_REASSESSMENTS}) AND {_OPEN}
"""
""":data:`bot.services.reminder_plan.RESOLVE` as driver SQL: ``updated_at``, then the case."""
_ONE_STATEMENT: Final = f"""
WITH bumped AS (
    UPDATE "case" SET revision = %(revision)s
    WHERE id = %(case)s AND revision = %(revision)s - 1 AND status = 'active'
    AND (%(member)s::text IS NULL OR EXISTS (
        SELECT FROM member WHERE slack_user_id = %(member)s AND role = %(role)s
    ))
    RETURNING id
), head AS (
    SELECT {audit.CHAIN_HEAD_SQL} AS prev, {_NEXT_ID} AS id FROM bumped
), new_assessment AS (
    INSERT INTO assessment (id, {_listed(_ASSESSMENT_COLUMNS)})
    SELECT head.id, {_listed(_ASSESSMENT_COLUMNS, "a.")}
    FROM head, json_populate_record(NULL::assessment, %(assessment)s::json) AS a
), resolved AS (
    UPDATE reminder SET state = 'resolved', updated_at = %(at)s, version = version + 1
    WHERE case_id = %(case)s AND kind IN ({_REASSESSMENTS}) AND {_OPEN}
    AND EXISTS (SELECT FROM bumped)
), scheduled AS (
    INSERT INTO reminder ({_listed(SCHEDULED_COLUMNS)})
    SELECT {_listed(SCHEDULED_COLUMNS)}
    FROM json_populate_recordset(NULL::reminder, %(reminders)s::json) AS r
    WHERE EXISTS (SELECT FROM bumped) AND (r.kind <> '{REFRACTORY_REVIEW}' OR NOT EXISTS (
        SELECT FROM reminder
        WHERE case_id = %(case)s AND kind = '{REFRACTORY_REVIEW}' AND {_OPEN}
    ))
)
INSERT INTO audit_event ({_listed(_EVENT_CONTENT)}, object_id, prev_hash, hash)
SELECT {_listed(_EVENT_CONTENT, "e.")}, head.id::text, head.prev,
    encode(sha256(convert_to(
        %(part_0)s || head.id::text || %(part_1)s || head.prev || %(part_2)s, 'UTF8'
    )), 'hex')
FROM head, json_populate_record(NULL::audit_event, %(event)s::json) AS e
RETURNING object_id
"""
"""The record's writes as one statement, of one shape whatever the record holds.

Nine parameters: ``case`` and ``revision`` the bump, ``member`` and ``role`` its role check
(``member`` NULL: none), ``at`` the resolve, and the rows as JSON
(``assessment`` and ``event`` one record each, ``reminders`` an array), expanded by
``json_populate_record(set)``, with ``part_*`` the event's canonical JSON fragments. Rows as
JSON rather than a parameter per column: one ``json.dumps`` instead of forty conversions in
SQLAlchemy and psycopg, which cost more than the server's work. Run on the driver's connection
(:func:`~bot.db.driver_sql.run_on_driver`): there is nothing for SQLAlchemy to compile or
convert. It returns the assessment's id (the event's ``object_id``), or no row when the case
was not bumped.
"""


def _as_json(rows: Any) -> str:
    """Rows (a dict, or a list of them) as the JSON ``json_populate_record(set)`` reads, times
    in ISO form (read back as ``timestamptz``, to the microsecond).

    orjson, not ``json``: this runs on every record, on the serving process's interpreter lock,
    and is several times faster. Its output differs from ``json.dumps`` only where nothing here
    goes: it writes NaN as null, and every number in a record was validated within its range
    first (NaN is in none).
    """
    return orjson.dumps(rows).decode()
