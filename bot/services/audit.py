"""The audit trail: append-only events, each hash-chained to the one before (design §3).

Every create, view, export, role change and denial is recorded by :func:`record_audit` in the
caller's transaction, so an event exists exactly when the change it describes does. Each row's
``hash`` is sha256 over a canonical JSON of all its fields but ``id`` and ``hash`` (``at`` in UTC
ISO form) together with ``prev_hash``, the hash of the row before; the first row links to
:data:`GENESIS`. :func:`verify_chain` (``toxbot audit verify``) recomputes all of it.

Keeping the chain linear under concurrent writers. Two transactions must never both read the same
"last hash" and so fork the chain; each engine serialises the read-hash-insert step differently:

* PostgreSQL: ``pg_advisory_xact_lock(CHAIN_LOCK_KEY)`` is taken BEFORE the last hash is read and
  held until the caller's transaction ends. Both happen in one call of the database function
  ``toxbot_audit_chain_head()`` (migration 0003): it is VOLATILE, so under READ COMMITTED its
  query takes a fresh snapshot after the lock is granted and the last row really is the last.
  The id comes from the sequence while the lock is held, so id order is chain order. Snapshot
  isolation levels (REPEATABLE READ, SERIALIZABLE) would read a stale "last row" and are
  refused. The append is ONE statement: the head is read in a CTE and the hash computed by the
  server, ``sha256`` over the same canonical JSON as here, assembled from the fragments
  :func:`canonical_parts` cuts around the values only the server knows (the previous hash, and
  for a recorded assessment its id). No round trip to read the head first, and the lock is held
  only from that statement to the commit. (The canonical JSON is hashed as UTF-8: the database
  must be UTF8-encoded, PostgreSQL's default.)
* SQLite: the event is INSERTed first, with a unique placeholder in ``prev_hash`` and ``hash``.
  That insert is the transaction's first write (or comes after one), so it holds SQLite's single
  write lock, which in WAL mode also guarantees the transaction sees the newest data: SQLite
  refuses a write on a stale snapshot. Only then is the previous row (``id <`` this one) read and
  the row updated with the real link and hash. A second writer waits on the busy timeout (5 s,
  :mod:`bot.db.engine`) until the first commits or rolls back. If it waits longer it gets
  ``OperationalError: database is locked`` and nothing is written: the caller's transaction is
  rolled back and the whole use case may be retried (the services layer reports "Not
  recorded"). Short transactions never reach the timeout; the 4-thread test shows it.

Other engines are refused rather than guessed at.

``detail`` holds structured facts only (counts, grades, keys, role names). Keys that would carry
free text (``note``, ``notes``, ``text``, ``free_text``, at any depth) are refused, so a clinical
note can never reach the trail, and values must be plain JSON, stored exactly as they are hashed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    Insert,
    Row,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.db.driver_sql import DriverInsert, run_on_driver
from bot.db.models import AuditEvent

GENESIS: Final = "0" * 64
"""The ``prev_hash`` of the first row: the chain starts from nothing."""

CHAIN_LOCK_KEY: Final = 7_461_237_501
"""The fixed 64-bit ``pg_advisory_xact_lock`` key that serialises appends on PostgreSQL."""

SNAPSHOT_REFUSED: Final = "TXB01"
"""The SQLSTATE ``toxbot_audit_chain_head()`` raises under a snapshot isolation level."""

HASHED_FIELDS: Final = (
    "at",
    "actor",
    "role",
    "action",
    "case_code",
    "object_type",
    "object_id",
    "source",
    "detail",
    "prev_hash",
)
"""Every column of ``audit_event`` but ``id`` and ``hash``: what each hash covers."""

FREE_TEXT_KEYS: Final = frozenset({"note", "notes", "text", "free_text"})
"""``detail`` keys refused anywhere in the structure: free text never enters the trail."""

_BATCH: Final = 500  # rows fetched at a time by verify_chain
_MARK: Final = uuid.uuid4().hex  # canonical_parts' placeholder prefix: random per process


def record_audit(
    session: Session | Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    source: str,
    role: str | None = None,
    case_code: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    write_locked: bool = False,
) -> AuditEvent:
    """Append one event to the chain in the caller's transaction (a session's, or a
    connection's) and return it (flushed).

    ``write_locked``: the caller's transaction has written already, so on SQLite it holds the
    write lock and reads the newest data: the last hash is read first and the event inserted
    once, complete (two statements instead of three).

    Never commits: the event lives or dies with the caller's transaction. The chain lock (the
    advisory lock on PostgreSQL, the write lock on SQLite) is held from here until that
    transaction ends, so keep audited transactions short.

    Raises ``ValueError`` for a naive ``at``, a ``detail`` key that would carry free text, or a
    ``detail`` that is not plain JSON (the message names the key, never its value);
    ``RuntimeError`` for an isolation level or engine that could fork the chain.
    """
    values = audit_values(
        at=at,
        actor=actor,
        action=action,
        source=source,
        role=role,
        case_code=case_code,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )
    connection = (
        session
        if isinstance(session, Connection)
        else session.connection(bind_arguments={"mapper": AuditEvent})
    )
    dialect = connection.dialect.name
    if dialect == "postgresql":
        parts = canonical_parts(values, ("prev_hash",))
        row = run_chained(connection, _APPEND_EVENT, values | part_parameters(parts))
        if row is None:  # pragma: no cover - an INSERT ... SELECT of one row returns it
            raise RuntimeError("the audit event was not appended")
        values.update(id=row.id, prev_hash=row.prev_hash, hash=row.hash)
    elif dialect == "sqlite" and write_locked:
        append_after_write(connection, values)
    elif dialect == "sqlite":
        placeholder = uuid.uuid4().hex * 2  # 64 characters, unique until the real hash is known
        # The INSERT takes SQLite's write lock, held until the caller commits.
        values["id"] = connection.execute(
            _INSERT_EVENT, {**values, "prev_hash": placeholder, "hash": placeholder}
        ).scalar_one()
        values["prev_hash"] = (
            connection.execute(_LAST_HASH_BEFORE, {"before": values["id"]}).scalar() or GENESIS
        )
        values["hash"] = _digest(values)
        connection.execute(
            _LINK_EVENT, {"row": values["id"], "prev": values["prev_hash"], "new": values["hash"]}
        )
    else:
        raise RuntimeError(f"the audit chain cannot be serialised on {dialect!r}")
    return AuditEvent(**values)


def append_after_write(connection: Connection, values: dict[str, Any]) -> int:
    """SQLite, in a transaction that has written already (so it holds the write lock and reads
    the newest data): link ``values`` (:func:`audit_values`) to the last event, insert it, and
    return its id (also set in ``values``, with ``prev_hash`` and ``hash``).

    Two statements as driver SQL (:mod:`bot.db.driver_sql`): every record runs them.
    """
    last = run_on_driver(connection, _LAST_HASH_SQL).fetchone()
    values["prev_hash"] = last[0] if last is not None else GENESIS
    values["hash"] = _digest(values)
    append = DriverInsert.for_columns(_EVENTS, _EVENT_COLUMNS, connection.dialect, returning="id")
    ((returned,),) = append.run(connection, values)
    event_id = int(returned)
    values["id"] = event_id
    return event_id


_EVENTS: Final = cast(Table, AuditEvent.__table__)
_EVENT_COLUMNS: Final = (*HASHED_FIELDS, "hash")
_LAST_HASH_SQL: Final = "SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1"
# Built once: every audited call executes them, with parameters, and never compiles them again.
_INSERT_EVENT: Final = insert(_EVENTS).returning(_EVENTS.c.id)
_CONTENT_COLUMNS: Final = tuple(name for name in HASHED_FIELDS if name != "prev_hash")

CHAIN_HEAD_SQL: Final = "toxbot_audit_chain_head()"
"""PostgreSQL: the advisory lock, the isolation check and the last hash, read after the lock
(migration 0003); select it in a CTE of the statement that appends."""


def server_hash(*slots: ColumnElement[Any]) -> ColumnElement[str]:
    """The SQL for an event's hash: :func:`canonical_parts`' fragments (parameters ``part_0``,
    ``part_1``...: :func:`part_parameters`) with, between them, the values only the server
    knows, in canonical order."""
    joined: ColumnElement[Any] = bindparam("part_0", type_=String)
    for index, slot in enumerate(slots, start=1):
        joined = joined.concat(slot).concat(bindparam(f"part_{index}", type_=String))
    utf8 = func.convert_to(joined, literal_column("'UTF8'"))
    return func.encode(func.sha256(utf8), literal_column("'hex'"))


def part_parameters(parts: list[str]) -> dict[str, str]:
    """:func:`canonical_parts` as the parameters :func:`server_hash` reads."""
    return {f"part_{index}": part for index, part in enumerate(parts)}


def _append_event() -> Insert:
    head = select(literal_column(CHAIN_HEAD_SQL).label("prev")).cte("head")
    content = [bindparam(name, type_=_EVENTS.c[name].type) for name in _CONTENT_COLUMNS]
    return (
        insert(_EVENTS)
        .from_select(
            [*_CONTENT_COLUMNS, "prev_hash", "hash"],
            select(*content, head.c.prev, server_hash(head.c.prev)),
        )
        .returning(_EVENTS.c.id, _EVENTS.c.prev_hash, _EVENTS.c.hash)
    )


_APPEND_EVENT: Final = _append_event()
_LAST_HASH_BEFORE: Final = (
    select(_EVENTS.c.hash)
    .where(_EVENTS.c.id < bindparam("before"))
    .order_by(_EVENTS.c.id.desc())
    .limit(1)
)
_LINK_EVENT: Final = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("row"))
    .values(prev_hash=bindparam("prev"), hash=bindparam("new"))
)


def audit_values(
    *,
    at: datetime,
    actor: str,
    action: str,
    source: str,
    role: str | None = None,
    case_code: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An event's columns before it is chained, checked as :func:`record_audit` describes."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("naive datetime: audit events need a timezone-aware moment")
    return {
        "at": at.astimezone(UTC),
        "actor": actor,
        "role": role,
        "action": action,
        "case_code": case_code,
        "object_type": object_type,
        "object_id": object_id,
        "source": source,
        "detail": _structured(detail),
    }


def canonical_parts(fields: Mapping[str, Any], unknown: tuple[str, ...]) -> list[str]:
    """The canonical JSON :func:`_digest` hashes, cut around the values of ``unknown`` fields.

    For a hash the server computes (PostgreSQL): ``unknown`` are the fields only it knows (the
    previous hash; a new row's id). Their values must need no JSON escaping (hex digits, decimal
    ids): ``parts[0] + value_1 + parts[1] + value_2 + ...`` (values in canonical, i.e. sorted,
    order) is then exactly the text :func:`_digest` hashes. Each value's place is found by a
    mark random to this process, so no content can be mistaken for it.
    """
    marks = {name: f"{_MARK}{name}" for name in unknown}
    encoded = _canonical({**fields, **marks})
    parts: list[str] = []
    rest = encoded
    for name in sorted(unknown):
        if encoded.count(marks[name]) != 1:  # a uuid4 in the content: never in practice
            raise RuntimeError("audit hash fragments could not be cut")
        before, _, rest = rest.partition(marks[name])
        parts.append(before)
    parts.append(rest)
    return parts


def run_chained(
    connection: Connection, statement: Executable, parameters: Mapping[str, Any]
) -> Row[Any] | None:
    """PostgreSQL: run an appending ``statement`` (one that reads :data:`CHAIN_HEAD_SQL`); the
    row it returns, if any.

    That takes the chain lock and reads the last hash after it (migration 0003). A snapshot
    isolation level is refused as ``RuntimeError``.
    """
    try:
        return connection.execute(statement, parameters).first()
    except DBAPIError as exc:
        refuse_snapshot(exc)
        raise


def refuse_snapshot(exc: DBAPIError) -> None:
    """Raise ``RuntimeError`` if ``exc`` is ``toxbot_audit_chain_head()`` refusing a snapshot
    isolation level (a stale last hash would fork the chain); otherwise return."""
    if getattr(exc.orig, "sqlstate", None) == SNAPSHOT_REFUSED:
        raise RuntimeError(str(exc.orig).splitlines()[0]) from None


def event_hash(event: AuditEvent) -> str:
    """The hash ``event`` should carry: sha256 over the canonical JSON of :data:`HASHED_FIELDS`."""
    return _digest({name: getattr(event, name) for name in HASHED_FIELDS})


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What :func:`verify_chain` found.

    ``problems`` has one line per row that does not fit, naming the row. ``rows`` and
    ``last_hash`` (:data:`GENESIS` for an empty chain) are what an operator writes down to compare
    with a later verify: the only way to notice the newest rows cut off.
    """

    ok: bool
    rows: int
    problems: tuple[str, ...]
    last_hash: str = GENESIS


def verify_chain(session: Session) -> AuditReport:
    """Walk the rows in id order, recompute each hash and check each link; name each bad row.

    Detected, each named by row id: a field altered (``row 7: contents altered (hash does not
    match)``), a row removed from the middle or the start, a row inserted with a forged link and
    rows swapped or reordered (``row 9: previous-hash link broken after row 8 (a row removed,
    inserted or reordered)``; ``row 1: does not start from the genesis hash``), and, on SQLite, a
    value the column cannot even be read as (``contents unreadable``).

    Limitations, inherent to a chain without a secret or an outside anchor:

    * A removed LAST row (or several) leaves a shorter chain that is still valid: it is not
      detectable here. The report gives ``rows`` and ``last_hash``; compare them with an earlier
      verify (fewer rows, or a last hash that is no longer in the chain, means rows were cut off).
    * Someone with write access who rewrites a row AND recomputes every hash after it leaves a
      valid chain; again only a (count, last hash) written down elsewhere earlier catches it.
    """
    check = _ChainCheck()
    table = AuditEvent.__table__
    result = session.execute(select(table).order_by(table.c.id).execution_options(yield_per=_BATCH))
    try:
        for row in result:
            check.row(row._mapping)
    except (ValueError, TypeError):
        # A value the column type cannot read (SQLite stores anything): go row by row from here
        # so that the unreadable rows are named and the rest are still checked.
        result.close()
        for row_id in session.scalars(
            select(table.c.id).where(table.c.id > check.last_id).order_by(table.c.id)
        ):
            _check_one(session, check, row_id)
    finally:
        result.close()
    return check.report()


# --- internals ---------------------------------------------------------------------------------


def _structured(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """``detail`` as plain JSON, exactly as it will read back; free-text keys refused."""
    if detail is None:
        return {}
    for path, key in _keys(detail, ""):
        if key.strip().lower().replace("-", "_") in FREE_TEXT_KEYS:
            raise ValueError(
                f"free text never goes into the audit trail: detail key {path!r} refused"
            )
    try:
        encoded = json.dumps(dict(detail), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "audit detail must be plain JSON (strings, finite numbers, booleans, null, lists, "
            f"objects): {type(exc).__name__}"
        ) from None
    facts: dict[str, Any] = json.loads(encoded)
    return facts


def _keys(value: object, prefix: str) -> Iterator[tuple[str, str]]:
    """Every (dotted path, key) in a nested structure; a key that is not a string is refused."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"audit detail keys must be strings: {prefix}{key!r}")
            yield prefix + key, key
            yield from _keys(item, f"{prefix}{key}.")
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _keys(item, prefix)


def _digest(fields: Mapping[Any, Any]) -> str:
    """sha256 of the canonical JSON: sorted keys, no spaces, UTF-8, ``at`` in UTC ISO form."""
    return hashlib.sha256(_canonical(fields).encode("utf-8")).hexdigest()


def _canonical(fields: Mapping[Any, Any]) -> str:
    canonical = {name: fields[name] for name in HASHED_FIELDS}
    canonical["at"] = fields["at"].astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _check_one(session: Session, check: _ChainCheck, row_id: int) -> None:
    """Check one row by id, naming it as unreadable when a column cannot be read."""
    table = AuditEvent.__table__
    try:
        row: Row[Any] = session.execute(select(table).where(table.c.id == row_id)).one()
    except (ValueError, TypeError) as exc:
        links = session.execute(
            select(table.c.id, table.c.prev_hash, table.c.hash).where(table.c.id == row_id)
        ).one()
        check.row(links._mapping, unreadable=type(exc).__name__)
    else:
        check.row(row._mapping)


@dataclass
class _ChainCheck:
    """The running state of a verify: the previous row, and the problems found so far."""

    rows: int = 0
    last_id: int = 0
    last_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    def row(self, values: Mapping[Any, Any], unreadable: str | None = None) -> None:
        faults: list[str] = []
        if unreadable is not None:
            faults.append(f"contents unreadable ({unreadable}: a value altered outside toxbot)")
        else:
            try:
                intact = _digest(values) == values["hash"]
            except (TypeError, ValueError, AttributeError):
                intact = False
            if not intact:
                faults.append("contents altered (hash does not match)")
        if self.rows == 0:
            if values["prev_hash"] != GENESIS:
                faults.append("does not start from the genesis hash")
        elif values["prev_hash"] != self.last_hash:
            faults.append(
                f"previous-hash link broken after row {self.last_id} "
                "(a row removed, inserted or reordered)"
            )
        if faults:
            self.problems.append(f"row {values['id']}: " + "; ".join(faults))
        self.rows += 1
        self.last_id = values["id"]
        self.last_hash = values["hash"]

    def report(self) -> AuditReport:
        return AuditReport(
            ok=not self.problems,
            rows=self.rows,
            problems=tuple(self.problems),
            last_hash=self.last_hash,
        )
