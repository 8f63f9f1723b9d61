"""Write what one recorded assessment stores, in as few round trips as the engine allows.

A record stores three things in its transaction: the assessment row, its audit event (chained to
the one before, and naming the assessment's id) and the reminders it implies (the case's open
reassessments resolved, the next ones scheduled). The content is the same on every engine; how
it travels differs:

* SQLite runs in the process: each statement costs microseconds, so they run one after another,
  through :func:`bot.services.audit.record_audit` like every other audited call.
* PostgreSQL is a network round trip per statement, and round trips were most of a record's
  time. Two statements do it all: the first takes the audit chain's lock and reads its last hash
  (``toxbot_audit_chain_head()``, migration 0003) and reserves the assessment's id from its
  sequence; the event's hash can then be computed here, and the second statement inserts the
  assessment, resolves and schedules the reminders and appends the event at once, as
  data-modifying CTEs (PostgreSQL runs each exactly once, whether or not the main statement
  reads it).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import (
    JSON,
    Connection,
    Insert,
    String,
    Table,
    bindparam,
    column,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from bot.db import models
from bot.services import audit
from bot.services.reminder_plan import INSERT, RESOLVE

_ASSESSMENTS: Final = cast(Table, models.Assessment.__table__)
_EVENTS: Final = cast(Table, models.AuditEvent.__table__)
_REMINDERS: Final = cast(Table, models.Reminder.__table__)
_INSERT_ASSESSMENT: Final = insert(_ASSESSMENTS).returning(_ASSESSMENTS.c.id)
_HEAD_AND_ID: Final = text(
    "SELECT toxbot_audit_chain_head(), nextval(pg_get_serial_sequence('assessment', 'id'))"
)


def write_record(
    session: Session,
    *,
    assessment: Mapping[str, Any],
    event: Mapping[str, Any],
    reminders: list[dict[str, Any]],
    case_id: int,
    at: datetime,
) -> int:
    """Store the assessment, its audit event and its reminders; return the assessment's id.

    ``event`` holds :func:`bot.services.audit.record_audit`'s arguments but ``object_id``, which
    is the new assessment's id. ``reminders`` are the rows to schedule
    (:func:`bot.services.reminder_plan.next_reminders`); the case's open reassessments are
    resolved first.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _write_in_one_statement(connection, assessment, event, reminders, case_id, at)
    assessment_id: int = connection.execute(_INSERT_ASSESSMENT, dict(assessment)).scalar_one()
    audit.record_audit(session, **event, object_id=str(assessment_id))
    connection.execute(RESOLVE, {"case": case_id, "at": at})
    if reminders:
        connection.execute(INSERT, reminders)
    return assessment_id


def _write_in_one_statement(
    connection: Connection,
    assessment: Mapping[str, Any],
    event: Mapping[str, Any],
    reminders: list[dict[str, Any]],
    case_id: int,
    at: datetime,
) -> int:
    prev_hash, assessment_id = audit.chain_head(connection, _HEAD_AND_ID)
    chained = audit.chained(audit.audit_values(**event, object_id=str(assessment_id)), prev_hash)
    row = {**assessment, "id": assessment_id}
    parameters: dict[str, Any] = {"case": case_id, "at": at, "reminders": _as_json(reminders)}
    parameters.update((f"a_{name}", value) for name, value in row.items())
    parameters.update((f"e_{name}", value) for name, value in chained.items())
    columns = tuple(reminders[0]) if reminders else _NO_REMINDERS
    connection.execute(_one_statement(tuple(row), tuple(chained), columns), parameters)
    return int(assessment_id)


@functools.lru_cache(maxsize=16)
def _one_statement(
    assessment_columns: tuple[str, ...],
    event_columns: tuple[str, ...],
    reminder_columns: tuple[str, ...],
) -> Insert:
    """The record's writes as one statement, built once per shape so it compiles once.

    Every value is a bound parameter: ``a_*`` the assessment, ``e_*`` the event, ``case`` and
    ``at`` the resolve, and ``reminders`` the new rows as one JSON array, expanded by
    ``json_populate_recordset``. One parameter for any number of reminders keeps the statement
    one shape, and under psycopg's 50 parameters, past which it re-parses a query every time.
    """
    scheduled = func.json_populate_recordset(
        literal_column("NULL::reminder"), sql_cast(bindparam("reminders", type_=String), JSON)
    ).table_valued(*(column(name) for name in reminder_columns))
    ctes = [
        _insert_bound(_ASSESSMENTS, assessment_columns, "a_").cte("new_assessment"),
        RESOLVE.cte("resolved"),
        insert(_REMINDERS)
        .from_select(reminder_columns, select(*(scheduled.c[name] for name in reminder_columns)))
        .cte("scheduled"),
    ]
    return _insert_bound(_EVENTS, event_columns, "e_").add_cte(*ctes)


_NO_REMINDERS: Final = ("case_id",)  # the columns of an empty set of rows: any will do


def _as_json(rows: list[dict[str, Any]]) -> str:
    """Reminder rows as the JSON array ``json_populate_recordset`` reads (times in ISO form)."""
    return json.dumps(
        [
            {
                name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in row.items()
            }
            for row in rows
        ]
    )


def _insert_bound(table: Table, columns: tuple[str, ...], prefix: str) -> Insert:
    return insert(table).values(
        {name: bindparam(f"{prefix}{name}", type_=table.c[name].type) for name in columns}
    )
