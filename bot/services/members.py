"""Who may do what: Slack users' roles and the permission table (design §3 ``member``, §7).

Deny by default: a Slack user with no ``member`` row may do nothing, and an action is allowed
only to the roles :data:`ALLOWED` lists for it. Every denial is audited. This module is database
logic only (no Slack); the audit writer is passed in, so this module and ``bot.services.audit``
do not depend on each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.db.models import Member
from bot.services.errors import LastAdmin, ServiceError
from grading.errors import FieldError, InputError


class Role(StrEnum):
    """A member's role; the value is what the ``member.role`` column holds."""

    NURSE = "nurse"
    CLINICIAN = "clinician"
    LEAD = "lead"
    ADMIN = "admin"


_NURSE, _CLINICIAN, _LEAD, _ADMIN = Role.NURSE, Role.CLINICIAN, Role.LEAD, Role.ADMIN

ALLOWED: Final[Mapping[str, frozenset[Role]]] = MappingProxyType(
    {
        # Register a case: the treating team and the unit lead; nurses record on existing cases.
        "case.new": frozenset({_CLINICIAN, _LEAD, _ADMIN}),
        # Close a case with its outcome: a clinical decision, so clinicians (and admins).
        "case.close": frozenset({_CLINICIAN, _ADMIN}),
        # See a case's grades, doses and guidance: everyone with a role.
        "case.view": frozenset({_NURSE, _CLINICIAN, _LEAD, _ADMIN}),
        # Record an assessment: done at the bedside by nurses and clinicians.
        "assessment.record": frozenset({_NURSE, _CLINICIAN, _ADMIN}),
        # Record a dose given: nurses give drugs, clinicians order them.
        "dose.record": frozenset({_NURSE, _CLINICIAN, _ADMIN}),
        # Record lab results: as for assessments.
        "lab.record": frozenset({_NURSE, _CLINICIAN, _ADMIN}),
        # See unit reports (counts, grades over time): leads run the programme.
        "report.view": frozenset({_LEAD, _ADMIN}),
        # Export a report: data leaves toxbot, so only leads and admins.
        "report.export": frozenset({_LEAD, _ADMIN}),
        # Give or change a role: admins only, or anyone could grant themselves more.
        "role.set": frozenset({_ADMIN}),
        # Acknowledge a reassessment reminder: whoever will do the reassessment.
        "reminder.ack": frozenset({_NURSE, _CLINICIAN, _ADMIN}),
    }
)

# How each action reads in a refusal: "Not allowed: <phrase> needs the ... role".
_PHRASE: Final[Mapping[str, str]] = MappingProxyType(
    {
        "case.new": "registering a case",
        "case.close": "closing a case",
        "case.view": "viewing a case",
        "assessment.record": "recording an assessment",
        "dose.record": "recording a dose",
        "lab.record": "recording labs",
        "report.view": "viewing reports",
        "report.export": "exporting a report",
        "role.set": "setting a role",
        "reminder.ack": "acknowledging a reminder",
    }
)

SLACK_USER_ID: Final = re.compile(r"[UW][A-Z0-9]{2,20}")
USER_ACCEPTED: Final = "a Slack user id such as U0123ABC (U or W, then 2-20 of A-Z and 0-9)"
MAX_UNIT = 60  # the member.unit column
ADMINS_SOURCE: Final = "TOXBOT_ADMINS"  # added_by for admins made from the environment variable


def _role_list(roles: Iterable[Role]) -> str:
    """Roles in table order as prose: "admin", "lead or admin", "nurse, clinician or admin"."""
    names = [role.value for role in Role if role in set(roles)]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


class Denied(ServiceError):
    """The actor's role does not allow the action (or the actor has no role at all).

    ``message`` says which roles would do and how to get one; it names no patient and no case.
    A ``ServiceError``, so front ends that show ``ServiceError.message`` show this too.
    """

    def __init__(self, action: str, needed: frozenset[Role], role: Role | None) -> None:
        super().__init__(
            f"Not allowed: {_PHRASE.get(action, action)} needs the {_role_list(needed)} role; "
            "ask an admin (/tox role @you ROLE)"
        )
        self.action = action
        self.needed = needed
        self.role = role


_ROLE_OF: Final = select(Member.__table__.c.role).where(
    Member.__table__.c.slack_user_id == bindparam("user")
)  # built once: every role check runs it


def role_of(session: Session, slack_user_id: str) -> Role | None:
    """The user's role, or None when they have no ``member`` row.

    A stored value that is not a known role also gives None: an unknown role grants nothing.
    """
    return stored_role(session.connection().execute(_ROLE_OF, {"user": slack_user_id}).scalar())


def stored_role(stored: str | None) -> Role | None:
    """A ``member.role`` value as a role; None for none, or for a value that is not a role."""
    if stored is None:
        return None
    try:
        return Role(stored)
    except ValueError:
        return None


ROLE_OF_USER: Final = _ROLE_OF.scalar_subquery()
"""The role of the member ``:user`` as a scalar subquery, for a statement that reads more."""


def authorize(
    session: Session,
    *,
    actor: str,
    action: str,
    at: datetime,
    source: str,
    case_code: str | None = None,
    audit: Callable[..., object] | None = None,
) -> Role:
    """Return the actor's role if it may do ``action``; otherwise audit the denial and raise.

    On refusal, ``audit`` (normally ``bot.services.audit.record_audit``) is called BEFORE
    :class:`Denied` is raised, in ``session``, with action ``"denied:<action>"``, the actor's role
    (None when they have none) and ``detail={"needed": [sorted role names]}``. The denial is
    written in the caller's transaction, which would roll back as the exception propagates: the
    caller must commit the session before letting ``Denied`` go on (design §7: denials are
    audited even though the action fails).

    An action missing from :data:`ALLOWED` is a programming error: ``ValueError``, nothing done.
    """
    if action not in ALLOWED:
        raise ValueError(f"unknown action {action!r}; add it to ALLOWED")
    return check_role(
        session,
        role_of(session, actor),
        actor=actor,
        action=action,
        at=at,
        source=source,
        case_code=case_code,
        audit=audit,
    )


def check_role(
    session: Session,
    role: Role | None,
    *,
    actor: str,
    action: str,
    at: datetime,
    source: str,
    case_code: str | None = None,
    audit: Callable[..., object] | None = None,
) -> Role:
    """:func:`authorize` for a role already read (``None``: no ``member`` row): the same check,
    the same audited denial. For a use case that read the role in a statement of its own."""
    needed = ALLOWED.get(action)
    if needed is None:
        raise ValueError(f"unknown action {action!r}; add it to ALLOWED")
    if role is not None and role in needed:
        return role
    if audit is not None:
        audit(
            session,
            at=at,
            actor=actor,
            action="denied:" + action,
            source=source,
            role=None if role is None else role.value,
            case_code=case_code,
            detail={"needed": sorted(r.value for r in needed)},
        )
    raise Denied(action, needed, role)


def set_role(
    session: Session, *, actor: str, target: str, role: Role, unit: str | None, at: datetime
) -> Member:
    """Give ``target`` a role (insert or update), recording who set it and when.

    ``unit`` None (or blank) leaves an existing unit as it was (so changing a role does not wipe
    it); a new member then has no unit. This does not check that ``actor`` may set roles: the
    use case calls :func:`authorize` with ``"role.set"`` first, and audits the change.
    ``actor`` is not validated as a Slack id because the operator's command line acts too.
    Taking the admin role from the only admin raises :class:`LastAdmin`, and nothing changes.
    """
    _check_user_ids([target])
    unit = _check_unit(unit)
    if role is not Role.ADMIN:
        _keep_an_admin(session, target)
    values: dict[str, Any] = {"role": role.value, "added_by": actor, "added_at": at}
    if unit is not None:
        values["unit"] = unit
    if not _insert_if_absent(session, target, values):
        session.execute(update(Member).where(Member.slack_user_id == target).values(**values))
    return session.scalars(
        select(Member)
        .where(Member.slack_user_id == target)
        .execution_options(populate_existing=True)
    ).one()


def _keep_an_admin(session: Session, target: str) -> None:
    """Refuse to take the admin role from ``target`` when they hold the only one.

    Two admins demoting each other at once must take turns, the second seeing the first's
    change. PostgreSQL: the admins' rows are locked as they are read (``FOR UPDATE``). SQLite
    locks the whole database for a writer, but its driver begins the transaction at the first
    write: a no-op update of ``target``'s row comes first, so the count is read holding the
    lock.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Member).where(Member.slack_user_id == target).values(role=Member.role)
        )
    admins = session.scalars(
        select(Member.slack_user_id).where(Member.role == Role.ADMIN.value).with_for_update()
    ).all()
    if list(admins) == [target]:
        raise LastAdmin(target)


def ensure_admins(session: Session, user_ids: Iterable[str], at: datetime) -> list[str]:
    """Make each listed Slack user an admin; return the ids that were not admins before.

    For the first admins, from the ``TOXBOT_ADMINS`` environment variable at start-up
    (``added_by`` is ``"TOXBOT_ADMINS"``). Idempotent: a second call changes nothing and returns
    ``[]``. An existing member with another role is promoted (and listed); their unit is kept.
    Every id is checked before anything is written. Safe when several replicas start at once:
    the insert is ``ON CONFLICT DO NOTHING`` and the promotion a conditional update.
    """
    ids = list(dict.fromkeys(user_ids))  # drop repeats, keep order
    _check_user_ids(ids)
    values = {"role": Role.ADMIN.value, "added_by": ADMINS_SOURCE, "added_at": at}
    changed: list[str] = []
    for user_id in ids:
        if _insert_if_absent(session, user_id, values):
            changed.append(user_id)
            continue
        promoted = session.execute(
            update(Member)
            .where(Member.slack_user_id == user_id, Member.role != Role.ADMIN.value)
            .values(**values)
            .returning(Member.id)
        ).first()
        if promoted is not None:
            changed.append(user_id)
    return changed


def _insert_if_absent(session: Session, user_id: str, values: Mapping[str, Any]) -> bool:
    """Insert a member row unless one exists for ``user_id``; True when inserted.

    ``INSERT ... ON CONFLICT DO NOTHING`` rather than select-then-insert, so two writers adding
    the same user at once do not fail on the unique constraint.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:  # pragma: no cover - design §3: SQLite and PostgreSQL only
        raise NotImplementedError(f"member upsert not written for {dialect}")
    statement = (
        insert(Member)
        .values({"slack_user_id": user_id, "unit": None, **values})
        .on_conflict_do_nothing(index_elements=[Member.slack_user_id])
        .returning(Member.id)
    )
    # A row comes back only when one was inserted (rowcount is not reliable here: psycopg
    # reports -1 for an ORM insert).
    return session.execute(statement).first() is not None


def _check_user_ids(user_ids: Iterable[str]) -> None:
    """Refuse anything that is not a Slack user id, naming every bad one (field ``user``)."""
    errors = [
        FieldError("user", user_id, "not a Slack user id", USER_ACCEPTED)
        for user_id in user_ids
        if SLACK_USER_ID.fullmatch(user_id) is None
    ]
    if errors:
        raise InputError(errors)


def _check_unit(unit: str | None) -> str | None:
    """A unit name stripped, blank meaning none; longer than the column is refused."""
    if unit is None or not unit.strip():
        return None
    unit = unit.strip()
    if len(unit) > MAX_UNIT:
        raise InputError(
            [FieldError("unit", unit, "too long", f"a unit name of up to {MAX_UNIT} characters")]
        )
    return unit
