"""What recording an assessment reads before it grades: in one statement where statements cost.

Three things come first: the actor's role (deny by default), an assessment already stored under
the request's idempotency key (a repeat replays it, stores nothing), and the case with the
revision the record will commit at. On PostgreSQL each statement is a round trip, so all three
come in one SELECT, the case outer-joined so a missing one still gives the row. On SQLite the
role and the key come in one; the case is then locked and bumped
(:func:`bot.services.cases.case_for_record`), which takes SQLite's write lock for the
transaction, and only after the role has allowed the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.orm import Session

from bot.db import models
from bot.services.cases import LockedCase
from bot.services.members import ROLE_OF_USER, Role, stored_role

_ASSESSMENTS: Final = cast(Table, models.Assessment.__table__)
_SEEN: Final = (
    select(_ASSESSMENTS.c.id)
    .where(_ASSESSMENTS.c.idempotency_key == bindparam("key"))
    .scalar_subquery()
)
_ROLE_AND_SEEN: Final = select(ROLE_OF_USER.label("actor_role"), _SEEN.label("seen"))
_CASE_COLUMNS: Final = ", ".join(
    "c.revision + 1 AS revision" if name == "revision" else f"c.{name}"
    for name in ("status", *LockedCase.__slots__)
)
# PostgreSQL: driver SQL, nothing for SQLAlchemy to compile or convert (a record's every
# statement costs it more than the server's work on this one).
_WITH_CASE: Final = f"""
SELECT (SELECT role FROM member WHERE slack_user_id = %(user)s) AS actor_role,
       (SELECT id FROM assessment WHERE idempotency_key = %(key)s) AS seen,
       {_CASE_COLUMNS}
FROM (SELECT 1) AS one LEFT JOIN "case" AS c ON c.code = %(wanted)s
"""


@dataclass(frozen=True, slots=True)
class RecordReads:
    """What :func:`read_for_record` found."""

    role: Role | None  # the actor's role; None: no member row (or no user was asked for)
    seen: int | None  # the assessment already stored under the key, if any
    case_row: Row[Any] | None  # the case's columns (empty when there is none); None: not read


def read_for_record(
    session: Session, *, user: str | None, key: str | None, code: str, with_case: bool
) -> RecordReads:
    """The role of ``user``, the assessment stored under ``key``, and, ``with_case`` (PostgreSQL
    only), the case ``code`` (for :func:`bot.services.cases.case_from_row`), in one
    statement."""
    parameters = {"user": user, "key": key}
    if not with_case:
        row = session.connection().execute(_ROLE_AND_SEEN, parameters).one()
        return RecordReads(stored_role(row.actor_role), row.seen, None)
    parameters["wanted"] = code.strip().upper()
    row = session.connection().exec_driver_sql(_WITH_CASE, parameters).one()
    return RecordReads(stored_role(row.actor_role), row.seen, row)


__all__ = ["RecordReads", "read_for_record"]
