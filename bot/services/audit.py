"""The audit trail: append-only events, each hash-chained to the one before (design §3).

Every create, view, export, role change and denial is recorded in the caller's transaction. The
chain stays linear under concurrent writers: the new row is inserted first, which takes the
database's write lock on SQLite, and on PostgreSQL a transaction-scoped advisory lock is held
from before the insert to commit. Only then is the previous row read and the hash computed.

``verify_chain`` recomputes every hash and link and names the rows that were altered, removed,
inserted or reordered. A chain alone cannot tell that the newest rows were cut off; compare the
row count and last hash with an earlier verify (the report gives both).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.db.models import AuditEvent

GENESIS: Final = "0" * 64
_CHAIN_LOCK: Final = 7_461_237_501  # pg_advisory_xact_lock key for the audit chain
_FREE_TEXT_KEYS: Final = frozenset({"note", "notes", "text", "free_text"})


def record_audit(
    session: Session,
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
) -> AuditEvent:
    """Append one event in the caller's transaction (never commits), chained to the last one."""
    facts = dict(detail or {})
    refused = _FREE_TEXT_KEYS & {key.lower() for key in facts}
    if refused:
        raise ValueError(f"free text never goes into the audit trail: {sorted(refused)}")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    placeholder = uuid.uuid4().hex * 2  # unique until the real hash is known
    event = AuditEvent(
        at=at,
        actor=actor,
        role=role,
        action=action,
        case_code=case_code,
        object_type=object_type,
        object_id=object_id,
        source=source,
        detail=facts,
        prev_hash=placeholder,
        hash=placeholder,
    )
    session.add(event)
    session.flush()  # the insert holds the write lock from here to commit
    previous = session.scalar(
        select(AuditEvent.hash)
        .where(AuditEvent.id < event.id)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    event.prev_hash = previous or GENESIS
    event.hash = event_hash(event)
    session.flush()
    return event


def event_hash(event: AuditEvent) -> str:
    """sha256 of the event's canonical JSON: every field but id and hash, with the link."""
    canonical = json.dumps(
        {
            "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": event.actor,
            "role": event.role,
            "action": event.action,
            "case_code": event.case_code,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "source": event.source,
            "detail": event.detail,
            "prev_hash": event.prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What ``verify_chain`` found."""

    ok: bool
    rows: int
    last_hash: str
    problems: tuple[str, ...]


def verify_chain(session: Session) -> AuditReport:
    """Recompute every hash and link, in id order, and name each row that does not fit."""
    problems: list[str] = []
    expected_prev, previous_id, rows = GENESIS, None, 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        rows += 1
        if event.prev_hash != expected_prev:
            where = f"after row {previous_id}" if previous_id is not None else "at the start"
            problems.append(
                f"row {event.id}: previous-hash link broken {where} "
                "(a row removed, inserted or reordered)"
            )
        if event_hash(event) != event.hash:
            problems.append(f"row {event.id}: contents altered (hash does not match)")
        expected_prev, previous_id = event.hash, event.id
    return AuditReport(not problems, rows, expected_prev, tuple(problems))
