"""Roles and permissions against a real database, on SQLite and PostgreSQL (design §3, §7).

Deny by default: no ``member`` row, no access. Every action in ``ALLOWED`` is tried with every
role, and each refusal must reach the audit writer (a fake here, recording its calls) before
``Denied`` is raised.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Member
from bot.services.errors import LastAdmin
from bot.services.members import (
    ALLOWED,
    Denied,
    Role,
    authorize,
    ensure_admins,
    role_of,
    set_role,
)
from grading.errors import InputError
from tests.integration.conftest import FakeClock

USER = "U0TEST01"


@dataclass
class FakeAudit:
    """Stands in for ``record_audit``: keeps each call's arguments."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, session: Session, **kwargs: Any) -> None:
        assert isinstance(session, Session)
        self.calls.append(kwargs)


def give(sessions: sessionmaker[Session], clock: FakeClock, user: str, role: Role) -> None:
    with sessions.begin() as session:
        set_role(session, actor="setup", target=user, role=role, unit=None, at=clock.now())


# ---------------------------------------------------------------------------------------------
# Deny by default


def test_no_member_row_is_denied_and_audited(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    audit = FakeAudit()
    with sessions() as session, pytest.raises(Denied) as raised:
        authorize(
            session,
            actor=USER,
            action="assessment.record",
            at=clock.now(),
            source="slash",
            case_code="CT-7K4Q",
            audit=audit,
        )
    denied = raised.value
    assert denied.action == "assessment.record"
    assert denied.needed == frozenset({Role.NURSE, Role.CLINICIAN, Role.ADMIN})
    assert denied.role is None
    assert denied.message == (
        "Not allowed: recording an assessment needs the nurse, clinician or admin role; "
        "ask an admin (/tox role @you ROLE)"
    )
    assert "CT-7K4Q" not in denied.message  # nothing about the case or patient
    assert audit.calls == [
        {
            "at": clock.now(),
            "actor": USER,
            "action": "denied:assessment.record",
            "source": "slash",
            "role": None,
            "case_code": "CT-7K4Q",
            "detail": {"needed": ["admin", "clinician", "nurse"]},
        }
    ]


def test_denied_without_audit_callable_still_raises(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with sessions() as session, pytest.raises(Denied):
        authorize(session, actor=USER, action="case.view", at=clock.now(), source="cli")


def test_role_of_unknown_user_is_none(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert role_of(session, USER) is None


def test_unknown_stored_role_grants_nothing(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with sessions.begin() as session:
        session.add(
            Member(slack_user_id=USER, role="superuser", added_by="setup", added_at=clock.now())
        )
    audit = FakeAudit()
    with sessions() as session:
        assert role_of(session, USER) is None
        with pytest.raises(Denied):
            authorize(
                session, actor=USER, action="case.view", at=clock.now(), source="x", audit=audit
            )
    assert audit.calls[0]["role"] is None


def test_unknown_action_is_a_programming_error(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    give(sessions, clock, USER, Role.ADMIN)
    audit = FakeAudit()
    with sessions() as session, pytest.raises(ValueError, match="unknown action"):
        authorize(
            session, actor=USER, action="case.delete", at=clock.now(), source="x", audit=audit
        )
    assert audit.calls == []


def test_denial_audit_is_kept_when_caller_commits_before_raising(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The documented caller pattern: commit the denial, then let Denied propagate."""
    give(sessions, clock, USER, Role.NURSE)

    def write_audit(session: Session, **kwargs: Any) -> None:
        # Stand-in for an audit row: a member row is something this test can count.
        session.add(
            Member(
                slack_user_id="U0AUDIT1",
                role="nurse",
                added_by=kwargs["action"],
                added_at=kwargs["at"],
            )
        )

    def refuse_role_change() -> None:
        with sessions.begin() as session:
            try:
                authorize(
                    session,
                    actor=USER,
                    action="role.set",
                    at=clock.now(),
                    source="slash",
                    audit=write_audit,
                )
            except Denied:
                session.commit()
                raise

    with pytest.raises(Denied):
        refuse_role_change()
    with sessions() as session:
        kept = session.scalars(select(Member).where(Member.slack_user_id == "U0AUDIT1")).one()
        assert kept.added_by == "denied:role.set"


# ---------------------------------------------------------------------------------------------
# The table: every action with every role

TABLE = [(action, role) for action in ALLOWED for role in Role]


def test_table_covers_the_actions() -> None:
    assert set(ALLOWED) == {
        "case.new",
        "case.close",
        "case.view",
        "assessment.record",
        "dose.record",
        "lab.record",
        "report.view",
        "report.export",
        "role.set",
        "reminder.ack",
    }
    assert all(ALLOWED.values())  # every action is open to some role
    assert all(Role.ADMIN in roles for roles in ALLOWED.values())


@pytest.mark.parametrize(
    ("action", "role"), TABLE, ids=[f"{action}-{role.value}" for action, role in TABLE]
)
def test_action_by_role(
    sessions: sessionmaker[Session], clock: FakeClock, action: str, role: Role
) -> None:
    give(sessions, clock, USER, role)
    audit = FakeAudit()
    with sessions() as session:
        if role in ALLOWED[action]:
            assert (
                authorize(
                    session, actor=USER, action=action, at=clock.now(), source="x", audit=audit
                )
                is role
            )
            assert audit.calls == []
        else:
            with pytest.raises(Denied) as raised:
                authorize(
                    session, actor=USER, action=action, at=clock.now(), source="x", audit=audit
                )
            assert raised.value.role is role
            assert raised.value.needed == ALLOWED[action]
            assert raised.value.message.startswith("Not allowed: ")
            assert action not in raised.value.message  # a phrase a user reads, not an id
            assert [call["action"] for call in audit.calls] == [f"denied:{action}"]
            assert audit.calls[0]["role"] == role.value
            assert audit.calls[0]["detail"] == {"needed": sorted(r.value for r in ALLOWED[action])}


@pytest.mark.parametrize(
    ("action", "wording"),
    [
        ("role.set", "setting a role needs the admin role;"),
        ("report.view", "viewing reports needs the lead or admin role;"),
        ("case.close", "closing a case needs the clinician or admin role;"),
        ("case.new", "registering a case needs the clinician, lead or admin role;"),
    ],
    ids=["one role", "two roles", "two roles again", "three roles"],
)
def test_denied_message_lists_roles(
    sessions: sessionmaker[Session], clock: FakeClock, action: str, wording: str
) -> None:
    with sessions() as session, pytest.raises(Denied) as raised:
        authorize(session, actor=USER, action=action, at=clock.now(), source="x")
    assert raised.value.message == f"Not allowed: {wording} ask an admin (/tox role @you ROLE)"


# ---------------------------------------------------------------------------------------------
# set_role


def test_set_role_inserts_then_updates(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    with sessions.begin() as session:
        member = set_role(
            session, actor="U0ADMIN1", target=USER, role=Role.NURSE, unit="Ward 7", at=clock.now()
        )
        assert (member.role, member.unit, member.added_by) == ("nurse", "Ward 7", "U0ADMIN1")
    later = clock.advance(hours=1)
    with sessions.begin() as session:
        member = set_role(
            session, actor="U0ADMIN2", target=USER, role=Role.CLINICIAN, unit=None, at=later
        )
        assert (member.role, member.unit, member.added_by) == ("clinician", "Ward 7", "U0ADMIN2")
        assert member.added_at == later
    with sessions.begin() as session:
        member = set_role(
            session, actor="U0ADMIN2", target=USER, role=Role.LEAD, unit=" ICU ", at=later
        )
        assert (member.role, member.unit) == ("lead", "ICU")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 1
        assert role_of(session, USER) is Role.LEAD


def test_set_role_refuses_overlong_unit(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    with sessions() as session, pytest.raises(InputError) as raised:
        set_role(session, actor="x", target=USER, role=Role.NURSE, unit="W" * 61, at=clock.now())
    assert raised.value.errors[0].field == "unit"


# ---------------------------------------------------------------------------------------------
# ensure_admins


def test_ensure_admins_is_idempotent(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    first = clock.now()
    with sessions.begin() as session:
        assert ensure_admins(session, ["U0ADMIN1", "W0ADMIN2", "U0ADMIN1"], first) == [
            "U0ADMIN1",
            "W0ADMIN2",
        ]
    with sessions.begin() as session:
        assert ensure_admins(session, ["U0ADMIN1", "W0ADMIN2"], clock.advance(days=1)) == []
    with sessions() as session:
        members = session.scalars(select(Member).order_by(Member.slack_user_id)).all()
        assert [(m.slack_user_id, m.role, m.added_by) for m in members] == [
            ("U0ADMIN1", "admin", "TOXBOT_ADMINS"),
            ("W0ADMIN2", "admin", "TOXBOT_ADMINS"),
        ]
        assert {m.added_at for m in members} == {first}  # the second call wrote nothing


def test_ensure_admins_from_two_replicas_at_once(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Two processes starting together: the second waits for the first, then adds nothing."""
    results: list[list[str]] = []
    with sessions.begin() as first:
        results.append(ensure_admins(first, ["U0ADMIN1"], clock.now()))

        def second_replica() -> None:
            with sessions.begin() as second:
                results.append(ensure_admins(second, ["U0ADMIN1"], clock.now()))

        thread = threading.Thread(target=second_replica)
        thread.start()
        thread.join(timeout=0.3)  # blocked on the first's uncommitted row
        assert thread.is_alive()
    thread.join(timeout=10)
    assert results == [["U0ADMIN1"], []]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Member)) == 1


def test_ensure_admins_promotes_an_existing_member(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with sessions.begin() as session:
        set_role(
            session, actor="setup", target=USER, role=Role.NURSE, unit="Ward 7", at=clock.now()
        )
    with sessions.begin() as session:
        assert ensure_admins(session, [USER], clock.now()) == [USER]
    with sessions() as session:
        member = session.scalars(select(Member)).one()
        assert (member.role, member.unit, member.added_by) == ("admin", "Ward 7", "TOXBOT_ADMINS")


# ---------------------------------------------------------------------------------------------
# Bad user ids

BAD_IDS = [
    ("", "empty"),
    ("u0abc123", "lower case"),
    ("C0ABC123", "a channel id"),
    ("U1", "too short"),
    ("U" + "A" * 21, "too long"),
    ("<@U0ABC123>", "a mention, not an id"),
    ("U0ABC 12", "space"),
    ("U0ABC123\n", "trailing newline"),
]


@pytest.mark.parametrize("user_id", [row[0] for row in BAD_IDS], ids=[row[1] for row in BAD_IDS])
def test_bad_user_id_refused_by_set_role(
    sessions: sessionmaker[Session], clock: FakeClock, user_id: str
) -> None:
    with sessions() as session:
        with pytest.raises(InputError) as raised:
            set_role(
                session, actor="setup", target=user_id, role=Role.ADMIN, unit=None, at=clock.now()
            )
        (error,) = raised.value.errors
        assert (error.field, error.value) == ("user", user_id)
        assert session.scalar(select(func.count()).select_from(Member)) == 0


@pytest.mark.parametrize("user_id", [row[0] for row in BAD_IDS], ids=[row[1] for row in BAD_IDS])
def test_bad_user_id_refused_by_ensure_admins_before_any_write(
    sessions: sessionmaker[Session], clock: FakeClock, user_id: str
) -> None:
    with sessions() as session:
        with pytest.raises(InputError) as raised:
            ensure_admins(session, ["U0GOOD01", user_id], clock.now())
        assert [error.field for error in raised.value.errors] == ["user"]
        assert session.scalar(select(func.count()).select_from(Member)) == 0


# ---------------------------------------------------------------------------------------------
# The last admin


def test_the_only_admin_keeps_the_role(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    """With no admin left nobody could give roles in Slack: refused, nothing changed."""
    give(sessions, clock, "U0ADMIN1", Role.ADMIN)
    give(sessions, clock, USER, Role.NURSE)

    for role in (Role.NURSE, Role.CLINICIAN, Role.LEAD):
        with sessions.begin() as session, pytest.raises(LastAdmin) as raised:
            set_role(
                session, actor="U0ADMIN1", target="U0ADMIN1", role=role, unit=None, at=clock.now()
            )
        assert "only admin" in raised.value.message
        assert "/tox role @someone admin" in raised.value.message
    give(sessions, clock, "U0ADMIN1", Role.ADMIN)  # staying admin is no change to refuse
    with sessions() as session:
        assert role_of(session, "U0ADMIN1") is Role.ADMIN


def test_one_of_two_admins_can_step_down(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    give(sessions, clock, "U0ADMIN1", Role.ADMIN)
    give(sessions, clock, "U0ADMIN2", Role.ADMIN)

    give(sessions, clock, "U0ADMIN1", Role.CLINICIAN)

    with sessions() as session:
        assert role_of(session, "U0ADMIN1") is Role.CLINICIAN
        assert role_of(session, "U0ADMIN2") is Role.ADMIN
    with sessions.begin() as session, pytest.raises(LastAdmin):
        set_role(session, actor="x", target="U0ADMIN2", role=Role.LEAD, unit=None, at=clock.now())


def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The second change waits for the first, then is refused: never zero admins (on SQLite
    it fails as a write that lost the race; on PostgreSQL it sees the first's change)."""
    give(sessions, clock, "U0ADMIN1", Role.ADMIN)
    give(sessions, clock, "U0ADMIN2", Role.ADMIN)
    outcome: list[BaseException | None] = []

    def second_admin_steps_down() -> None:
        try:
            with sessions.begin() as second:
                set_role(
                    second,
                    actor="U0ADMIN2",
                    target="U0ADMIN2",
                    role=Role.NURSE,
                    unit=None,
                    at=clock.now(),
                )
            outcome.append(None)
        except Exception as exc:  # what the second change met
            outcome.append(exc)

    with sessions.begin() as first:
        set_role(
            first, actor="U0ADMIN1", target="U0ADMIN1", role=Role.NURSE, unit=None, at=clock.now()
        )
        thread = threading.Thread(target=second_admin_steps_down)
        thread.start()
        thread.join(timeout=0.3)
        assert thread.is_alive()  # waiting for the first change to commit
    thread.join(timeout=10)

    assert len(outcome) == 1
    assert isinstance(outcome[0], (LastAdmin, OperationalError))
    with sessions() as session:
        assert role_of(session, "U0ADMIN1") is Role.NURSE
        assert role_of(session, "U0ADMIN2") is Role.ADMIN
