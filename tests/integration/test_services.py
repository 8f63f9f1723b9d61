"""The use cases against a real database, on SQLite and PostgreSQL (issue 4).

Every test uses the injected clock. Database outages are a fake at the connection hook: while
``down`` is set, connecting fails as a real unreachable server does.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from bot.db import models
from bot.protocol_files import load_protocol
from bot.services.api import OPERATOR, Actor, Services
from bot.services.audit import verify_chain
from bot.services.cases import get_case
from bot.services.errors import CaseClosed, CaseNotFound, NotRecorded
from bot.services.history import load_history
from bot.services.members import Denied, Role, set_role
from bot.services.reminder_plan import next_reminders
from grading import parse_assessment
from grading.case import Route
from grading.errors import InputError
from grading.state import derive_state
from tests.integration.conftest import FakeClock

NURSE = Actor("U0NURSE1", "slash")
CLINICIAN = Actor("U0DOC001", "slash")
LINE_CRS2 = "temp=39.2 bp=low o2=ra ice=10 loc=alert signs=none"


@pytest.fixture
def services(sessions: sessionmaker[Session], clock: FakeClock) -> Services:
    with sessions.begin() as session:
        set_role(
            session, actor="setup", target=NURSE.user, role=Role.NURSE, unit=None, at=clock.now()
        )
        set_role(
            session,
            actor="setup",
            target=CLINICIAN.user,
            role=Role.CLINICIAN,
            unit=None,
            at=clock.now(),
        )
    return Services(sessions=sessions, clock=clock, protocol=load_protocol(environ={}))


def new_case(services: Services, clock: FakeClock, **extra: Any) -> str:
    data = {
        "product": "axi-cel",
        "infused_at": clock.now() - timedelta(days=2),
        "weight_kg": 72,
        "age_years": 58,
        **extra,
    }
    return services.register_case(CLINICIAN, data).code


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def assess(services: Services, code: str, line: str = LINE_CRS2, **options: Any) -> Any:
    parsed = parse_assessment(line)
    return services.record_assessment(NURSE, code, parsed.assessment, note=parsed.note, **options)


# --- cases -----------------------------------------------------------------------------------


def test_a_registered_case_gets_a_pseudonymous_code_and_an_audit_event(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    assert code.startswith("CT-")
    assert len(code) == 7
    with sessions() as session:
        event_ = session.scalars(select(models.AuditEvent)).one()
    assert (event_.action, event_.case_code, event_.actor) == ("case.new", code, CLINICIAN.user)


def test_a_site_label_that_looks_like_an_mrn_is_refused_and_nothing_stored(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with pytest.raises(InputError) as caught:
        new_case(services, clock, code="00123456")
    assert caught.value.errors[0].field == "case"
    assert count(sessions, models.Case) == 0


def test_bad_registration_fields_are_named_and_nothing_is_stored(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with pytest.raises(InputError) as caught:
        new_case(services, clock, weight_kg=0, product="")
    assert {error.field for error in caught.value.errors} == {"weight_kg", "product"}
    assert count(sessions, models.Case) == 0


def test_closing_a_case_cancels_its_reminders_and_death_from_crs_is_grade_5(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    assess(services, code)
    case = services.close_case(CLINICIAN, code, outcome="death", cause="crs")
    assert case.death_attributed_to == "crs"
    with sessions() as session:
        states = set(session.scalars(select(models.Reminder.state)))
    assert states == {"cancelled"}
    with pytest.raises(CaseClosed):
        assess(services, code)


def test_a_death_needs_its_cause(services: Services, clock: FakeClock) -> None:
    code = new_case(services, clock)
    with pytest.raises(InputError) as caught:
        services.close_case(CLINICIAN, code, outcome="death")
    assert caught.value.errors[0].field == "cause"


def test_an_unknown_case_is_named(services: Services) -> None:
    with pytest.raises(CaseNotFound) as caught:
        services.show_case(CLINICIAN, "CT-ZZZZ")
    assert "CT-ZZZZ" in caught.value.message


# --- assessments -----------------------------------------------------------------------------


def test_recording_stores_grades_audit_and_reminders_in_one_go(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    recorded = assess(services, code)
    assert recorded.created
    assert recorded.graded.result.crs.grade == 2
    assert recorded.graded.result.icans.grade == 0
    with sessions() as session:
        row = session.scalars(select(models.Assessment)).one()
        reminders = session.scalars(select(models.Reminder).order_by(models.Reminder.kind)).all()
        actions = [e.action for e in session.scalars(select(models.AuditEvent))]
    assert (row.crs_grade, row.icans_grade, row.icans_tool) == (2, 0, "ice")
    assert row.engine_version
    assert row.protocol_id == "toxbot-default"
    # CRS 2: vitals in 2 h, neuro screen in 4 h (clinical reference §0.1).
    due = {r.kind: r.due_at - clock.now() for r in reminders}
    assert due == {"reassess_vitals": timedelta(hours=2), "reassess_neuro": timedelta(hours=4)}
    assert actions == ["case.new", "assessment.record"]


def test_a_new_assessment_resolves_the_pending_reassessments(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    assess(services, code)
    clock.advance(hours=1)
    assess(services, code)
    with sessions() as session:
        states = sorted(session.scalars(select(models.Reminder.state)))
    assert states == ["pending", "pending", "resolved", "resolved"]


def test_the_same_idempotency_key_stores_once_and_returns_the_first_result(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    first = assess(services, code, idempotency_key="Ev0001")
    again = assess(services, code, idempotency_key="Ev0001")
    assert first.created
    assert not again.created
    assert again.assessment_id == first.assessment_id
    assert again.graded.result == first.graded.result
    assert count(sessions, models.Assessment) == 1


def test_concurrent_writes_with_one_key_leave_one_row(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        try:
            results.append(assess(services, code, idempotency_key="Ev-race"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert count(sessions, models.Assessment) == 1
    assert sum(r.created for r in results) == 1
    assert len({r.assessment_id for r in results}) == 1


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_write_that_comes_first_is_graded_in_and_nothing_is_stored_twice(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL reads the case without a lock: a dose recorded by another process while the
    assessment is graded makes the first write store nothing, and the second attempt, holding
    the case's lock, grades on the history with the dose (D13)."""
    code = new_case(services, clock)
    assess(services, code, "temp=39.0 o2=ra ice=10")
    other = Services(sessions=sessions, clock=clock, protocol=services.protocol)
    clock.advance(hours=1)
    real_derive = derive_state
    gradings: list[bool] = []  # per grading of the assessment: whether the dose was in

    def dose_lands_meanwhile(history: Any, *args: Any, **kwargs: Any) -> Any:
        if history.assessments[-1].temperature_c == 37.0:  # the assessment being recorded
            gradings.append(bool(history.doses))
            if len(gradings) == 1:
                other.record_dose(NURSE, code, {"drug": "tocilizumab", "dose_mg": 560})
        return real_derive(history, *args, **kwargs)

    monkeypatch.setattr("bot.services.api.derive_state", dose_lands_meanwhile)
    recorded = assess(services, code, "temp=37.0 bp=low o2=ra ice=10")

    assert gradings == [False, True]  # graded, found the case written to, graded again
    assert recorded.graded.prior_crs_treatment
    assert recorded.graded.result.crs.grade == 2  # D13: afebrile hypotension after tocilizumab
    assert count(sessions, models.Assessment) == 2
    with sessions() as session:
        revision = session.scalar(select(models.Case.revision).where(models.Case.code == code))
        report = verify_chain(session)
        open_reminders = session.scalar(
            select(func.count()).select_from(models.Reminder).where(models.open_reminder())
        )
    assert revision == 3  # assessment, dose, assessment: nothing bumped twice
    assert report.ok, report.problems
    assert report.rows == 4  # case.new, two assessments, the dose: no stray event
    assert open_reminders == 2  # the last record's vitals and neuro reassessments only


def test_concurrent_records_on_one_case_all_land_each_graded_in_turn(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Four writers on one case at once (threads; on PostgreSQL, four connections): every
    assessment is stored once, the revision counts them, and the kept copy equals a cold load."""
    code = new_case(services, clock)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    lines = ("temp=39.2 bp=low o2=ra ice=10", "temp=38.4 o2=nc:2 ice=9", "temp=37.1 o2=ra ice=10")

    def worker(index: int) -> None:
        barrier.wait()
        try:
            for turn in range(5):
                assess(
                    services, code, lines[(index + turn) % 3], idempotency_key=f"w{index}.{turn}"
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert count(sessions, models.Assessment) == 20
    with sessions() as session:
        revision = session.scalar(select(models.Case.revision).where(models.Case.code == code))
        report = verify_chain(session)
    assert revision == 20
    assert report.ok, report.problems
    assert report.rows == 21
    cold = Services(sessions=sessions, clock=clock, protocol=services.protocol).case_state(code)
    assert _state_facts(services.case_state(code)) == _state_facts(cold)


def test_a_failure_mid_transaction_stores_nothing(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database refuses the last write (a reminder without its kind): all of it is undone."""
    code = new_case(services, clock)

    def broken(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return [{**row, "kind": None} for row in next_reminders(*args, **kwargs)]

    monkeypatch.setattr("bot.services.api.next_reminders", broken)
    with pytest.raises(IntegrityError):
        assess(services, code)
    assert count(sessions, models.Assessment) == 0
    assert count(sessions, models.Reminder) == 0
    with sessions() as session:
        assert verify_chain(session).rows == 1  # only the case.new event


def test_bad_input_is_refused_before_anything_is_stored(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    with pytest.raises(InputError) as caught:
        assess(services, code, at=clock.now() + timedelta(hours=2))
    assert caught.value.errors[0].field == "at"
    assert count(sessions, models.Assessment) == 0


def test_notes_are_stored_but_never_logged_nor_audited(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = new_case(services, clock)
    secret = "patient said wife visits at 5"
    with caplog.at_level(logging.DEBUG):
        assess(services, code, f'{LINE_CRS2} note="{secret}"')
    assert secret not in caplog.text
    with sessions() as session:
        assert session.scalars(select(models.Assessment.note)).one() == secret
        details = [str(e.detail) for e in session.scalars(select(models.AuditEvent))]
    assert not any(secret in detail for detail in details)


# --- doses, labs, state ----------------------------------------------------------------------


def test_a_dose_against_a_limit_is_stored_and_flagged(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    assess(services, code)
    start = clock.now()
    flags = []
    for hours in (0, 8, 16, 20):  # the 4th inside 24 h breaks the 3-in-24 h limit (D17)
        clock.moment = start + timedelta(hours=hours)
        dose = {"drug": "tocilizumab", "dose_mg": 576, "route": "iv"}
        flags.append(services.record_dose(NURSE, code, dose).flags)
    assert flags[:3] == [(), (), ()]
    # 20 h is also only 4 h after the 16 h dose: both limits are named.
    assert any("within 24 h" in flag for flag in flags[3]), flags[3]
    assert any("minimum 8 h" in flag for flag in flags[3]), flags[3]
    assert count(sessions, models.Dose) == 4


def test_labs_are_stored_and_a_repeat_is_a_no_op(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    labs = [
        {"analyte": "ferritin", "value": 1200, "unit": "ng/mL"},
        {"analyte": "crp", "value": 80, "unit": "mg/L"},
    ]
    assert services.record_labs(NURSE, code, labs, idempotency_key="L1") == 2
    assert services.record_labs(NURSE, code, labs, idempotency_key="L1") == 0
    assert count(sessions, models.Lab) == 2


def test_a_bad_lab_names_the_field_and_stores_nothing(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    with pytest.raises(InputError) as caught:
        services.record_labs(
            NURSE,
            code,
            [
                {"analyte": "ferritin", "value": 1, "unit": "ng/mL"},
                {"analyte": "magic", "value": 2, "unit": "x"},
            ],
        )
    assert caught.value.errors[0].field == "analyte"
    assert count(sessions, models.Lab) == 0


def test_the_state_loaded_back_matches_what_was_recorded(
    services: Services, clock: FakeClock
) -> None:
    code = new_case(services, clock)
    recorded = assess(services, code)
    clock.advance(minutes=30)
    view = services.show_case(CLINICIAN, code)
    assert view.state.crs.current == recorded.graded.result.crs
    assert view.state.icans.current == recorded.graded.result.icans


def test_a_history_loads_in_time_order_with_ties_in_the_order_recorded(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Backdated and same-moment assessments come back by (time, then id), each time exact to
    the microsecond and in UTC, whatever zone the database session reads times in."""
    code = new_case(services, clock)
    base = clock.now() - timedelta(hours=6)
    entered = [
        (base + timedelta(hours=2), "temp=38.1 o2=ra ice=10"),
        (base + timedelta(hours=1, microseconds=250), "temp=38.2 o2=ra ice=10"),
        (base + timedelta(hours=1, microseconds=250), "temp=38.3 o2=ra ice=10"),
        (base, "temp=38.4 o2=ra ice=10"),
    ]
    for at, line in entered:
        assess(services, code, line, at=at)
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET TIME ZONE 'America/New_York'"))
        history = load_history(session, get_case(session, code))
    loaded = [(a.at, a.temperature_c) for a in history.assessments]
    assert loaded == [
        (base, 38.4),
        (base + timedelta(hours=1, microseconds=250), 38.2),
        (base + timedelta(hours=1, microseconds=250), 38.3),
        (base + timedelta(hours=2), 38.1),
    ]
    assert all(at.utcoffset() == timedelta(0) for at, _ in loaded)


def test_doses_and_labs_load_exactly_in_time_order_with_ties_in_the_order_recorded(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Doses and labs come back by (time, then id), each value the float that was stored (not
    a printed copy), a route left out as None, and every time in UTC to the microsecond."""
    code = new_case(services, clock)
    base = clock.now() - timedelta(hours=6)
    tie = base + timedelta(hours=1, microseconds=7)
    given = [
        (base + timedelta(hours=3), "tocilizumab", 0.1 + 0.2 + 560, "iv"),
        (tie, "dexamethasone", 10.0, None),
        (tie, "tocilizumab", 576.0, "iv"),
    ]
    for at, drug, mg, route in given:
        services.record_dose(NURSE, code, {"at": at, "drug": drug, "dose_mg": mg, "route": route})
    services.record_labs(
        NURSE, code, [{"at": tie, "analyte": "crp", "value": 1 / 3, "unit": "mg/L"}]
    )
    services.record_labs(
        NURSE, code, [{"at": base, "analyte": "ferritin", "value": 1200.5, "unit": "ng/mL"}]
    )
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET TIME ZONE 'Asia/Kolkata'"))
        history = load_history(session, get_case(session, code))
    doses = [(d.at, d.drug.value, d.dose_mg, d.route) for d in history.doses]
    assert doses == [
        (tie, "dexamethasone", 10.0, None),
        (tie, "tocilizumab", 576.0, Route.IV),
        (base + timedelta(hours=3), "tocilizumab", 0.1 + 0.2 + 560, Route.IV),
    ]
    labs = [(lab.at, lab.analyte.value, lab.value, lab.unit) for lab in history.labs]
    assert labs == [(base, "ferritin", 1200.5, "ng/mL"), (tie, "crp", 1 / 3, "mg/L")]
    assert all(d.at.utcoffset() == timedelta(0) for d in history.doses)
    assert all(lab.at.utcoffset() == timedelta(0) for lab in history.labs)


# --- roles and the audit chain --------------------------------------------------------------


def test_a_denied_action_is_refused_audited_and_stores_nothing(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with pytest.raises(Denied):
        services.register_case(
            NURSE, {"product": "axi-cel", "infused_at": clock.now(), "weight_kg": 70}
        )
    assert count(sessions, models.Case) == 0
    with sessions() as session:
        events = session.scalars(select(models.AuditEvent)).all()
    assert [(e.action, e.actor) for e in events] == [("denied:case.new", NURSE.user)]


def test_an_unknown_user_is_denied_by_default(services: Services) -> None:
    with pytest.raises(Denied):
        services.list_cases(Actor("U0STRANGER", "slash"))


def test_every_write_leaves_an_intact_audit_chain(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    assess(services, code)
    services.record_labs(NURSE, code, [{"analyte": "crp", "value": 5, "unit": "mg/L"}])
    services.show_case(CLINICIAN, code)
    services.close_case(OPERATOR, code, outcome="recovered")
    with sessions() as session:
        report = verify_chain(session)
    assert report.ok, report.problems
    assert report.rows == 5


# --- the database going away -----------------------------------------------------------------


@pytest.fixture
def outage(database: Engine) -> Iterator[dict[str, bool]]:
    """Set ``outage["down"] = True`` to make every new connection fail, as a dead server does."""
    switch = {"down": False}

    def connect(*_args: Any) -> None:
        if switch["down"]:
            raise OperationalError("connect", {}, ConnectionRefusedError("database is down"))

    event.listen(database, "do_connect", connect)
    yield switch
    event.remove(database, "do_connect", connect)


def test_a_database_that_is_down_gives_not_recorded_and_the_next_call_works(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    database: Engine,
    outage: dict[str, bool],
) -> None:
    code = new_case(services, clock)
    outage["down"] = True
    database.dispose()  # drop pooled connections, as a restart does
    with pytest.raises(NotRecorded) as caught:
        assess(services, code)
    assert "nothing was stored" in caught.value.message
    outage["down"] = False
    assert assess(services, code).created
    assert count(sessions, models.Assessment) == 1


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_locked_past_the_busy_timeout_gives_not_recorded_on_a_kept_case(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    database: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The record on a kept case runs on the driver's connection (bot.db.driver_sql): SQLite's
    "database is locked" still reaches the caller as "not recorded", and nothing is stored."""
    code = new_case(services, clock)
    assess(services, code)  # the case and the nurse's role kept: the next record reads nothing
    monkeypatch.setattr("bot.db.engine.SQLITE_BUSY_TIMEOUT_MS", 50)
    database.dispose()  # the connections made from here on wait 50 ms, not 5 s
    holder = sqlite3.connect(database.url.database or "", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's one write lock
    try:
        clock.advance(hours=1)
        with pytest.raises(NotRecorded):
            assess(services, code)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert count(sessions, models.Assessment) == 1
    assert assess(services, code).created  # the lock released: records go in again
    assert count(sessions, models.Assessment) == 2


def _restart_server_side(database: Engine) -> None:
    """Kill every server connection to this database, from outside its pool, as a restart does."""
    outsider = create_engine(database.url.render_as_string(hide_password=False), poolclass=NullPool)
    with outsider.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    outsider.dispose()
    assert killed >= 1  # the pooled connection the services used


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_connection_idle_past_the_threshold_is_pinged_and_replaced_after_a_restart(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    database: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = new_case(services, clock)
    assess(services, code)
    monkeypatch.setattr("bot.db.engine.IDLE_BEFORE_PING_S", 0.0)  # every connection counts as idle
    _restart_server_side(database)
    assert assess(services, code).created  # the ping found the dead connection; no failed call
    assert count(sessions, models.Assessment) == 2


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_recently_used_connection_that_died_fails_once_as_not_recorded_then_works(
    services: Services,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    database: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = new_case(services, clock)
    assess(services, code)
    monkeypatch.setattr("bot.db.engine.IDLE_BEFORE_PING_S", 3600.0)  # trusted: never pinged
    _restart_server_side(database)
    with pytest.raises(NotRecorded):
        assess(services, code)
    assert assess(services, code).created  # the pool was invalidated: a fresh connection
    assert count(sessions, models.Assessment) == 2


# --- the per-process copy of a case's history ----------------------------------------------------


def _state_facts(state: Any) -> tuple[Any, ...]:
    return (
        [(g.at, g.result, g.prior_crs_treatment) for g in state.assessments],
        state.doses,
        state.labs,
        state.crs,
        state.icans,
        state.tocilizumab,
        state.steroids,
        state.refractory,
    )


def test_the_kept_copy_gives_the_state_a_fresh_load_gives(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """D13 through the cache: a dose entered late regrades the assessments after it."""
    code = new_case(services, clock)
    for line in ("temp=39.1 o2=ra ice=10", "temp=38.2 bp=low o2=ra ice=10"):
        clock.advance(hours=2)
        assess(services, code, line)
    clock.advance(hours=1)
    services.record_dose(
        NURSE,
        code,
        {"drug": "tocilizumab", "dose_mg": 560, "at": clock.moment - timedelta(hours=2)},
    )
    clock.advance(hours=1)
    assess(services, code, "temp=37.0 o2=nc:2 ice=10")
    services.record_labs(NURSE, code, [{"analyte": "crp", "value": 80, "unit": "mg/L"}])
    clock.advance(hours=1)
    assess(services, code, "temp=38.9 bp=low o2=ra ice=9")
    warm = services.case_state(code)
    cold = Services(sessions=sessions, clock=clock, protocol=services.protocol).case_state(code)
    assert _state_facts(warm) == _state_facts(cold)
    assert warm.assessments[1].prior_crs_treatment  # the late dose reached the second one


def test_a_write_by_another_process_is_seen_not_the_stale_copy(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    assess(services, code, "temp=39.0 o2=ra ice=10")
    other = Services(sessions=sessions, clock=clock, protocol=services.protocol)
    clock.advance(hours=1)
    other.record_dose(NURSE, code, {"drug": "tocilizumab", "dose_mg": 560})
    clock.advance(hours=1)
    recorded = assess(services, code, "temp=37.0 bp=low o2=ra ice=10")
    assert recorded.advice.state.tocilizumab.doses_total == 1
    assert recorded.graded.prior_crs_treatment
    assert recorded.graded.result.crs.grade == 2  # D13: afebrile hypotension after tocilizumab


def test_a_record_tells_the_reminder_scheduler_when_its_next_reminder_is_due(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """After the commit, with the earliest due time of the reminders it scheduled (design §8)."""
    code = new_case(services, clock)
    told: list[Any] = []
    services.reminders_planned = told.append
    assess(services, code)
    with sessions() as session:
        due = session.scalars(
            select(models.Reminder.due_at).where(models.Reminder.state == "pending")
        ).all()
    assert told == [min(due)]


# --- a record on a kept copy: PostgreSQL's one round trip checks what the reads would have ---


def test_a_role_changed_by_another_process_is_denied_on_the_next_record(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The nurse's role was seen allowed; another process makes them a lead (who may not
    record): the next record is denied, audited with the role now held, and stores nothing."""
    code = new_case(services, clock)
    assess(services, code)
    with sessions.begin() as session:
        set_role(
            session, actor="U0ADMIN01", target=NURSE.user, role=Role.LEAD, unit=None, at=clock.now()
        )
    clock.advance(hours=1)
    with pytest.raises(Denied):
        assess(services, code)
    assert count(sessions, models.Assessment) == 1
    with sessions() as session:
        denial = session.scalars(
            select(models.AuditEvent).order_by(models.AuditEvent.id.desc()).limit(1)
        ).one()
        report = verify_chain(session)
    assert (denial.action, denial.actor, denial.role) == (
        "denied:assessment.record",
        NURSE.user,
        "lead",
    )
    assert report.ok, report.problems


def test_a_case_closed_by_another_process_refuses_the_next_record(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = new_case(services, clock)
    assess(services, code)
    other = Services(sessions=sessions, clock=clock, protocol=services.protocol)
    other.close_case(CLINICIAN, code, outcome="recovered")
    with pytest.raises(CaseClosed):
        assess(services, code)
    assert count(sessions, models.Assessment) == 1


def test_d16_a_refractory_flag_schedules_two_clinician_reviews_once(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """Grade 2 CRS worsening to grade 3 after tocilizumab and dexamethasone is refractory (D14):
    the flag schedules clinician re-reviews 12 h and 24 h after it (D16), and the records after
    it, while those reviews are open, add none."""
    code = new_case(services, clock)
    start = clock.now()
    assess(services, code, "temp=39.4 bp=low o2=ra ice=10 loc=alert signs=none")
    clock.advance(minutes=30)
    services.record_dose(NURSE, code, {"drug": "tocilizumab", "dose_mg": 576})
    clock.advance(minutes=15)
    services.record_dose(NURSE, code, {"drug": "dexamethasone", "dose_mg": 10})
    for hours in (4, 5, 6):
        clock.moment = start + timedelta(hours=hours)
        recorded = assess(services, code, GRADE_3_ON_PRESSORS)
        assert recorded.graded.result.crs.grade == 3
        assert recorded.advice.state.refractory.crs, hours
    with sessions() as session:
        reviews = session.scalars(
            select(models.Reminder.due_at).where(models.Reminder.kind == "refractory_review")
        ).all()
    flagged = start + timedelta(hours=4)
    assert sorted(as_utc(due) for due in reviews) == [
        flagged + timedelta(hours=12),
        flagged + timedelta(hours=24),
    ]


GRADE_3_ON_PRESSORS = "temp=38.6 pressors=1 vasopressin=no o2=nc:5 ice=10 loc=alert signs=none"


def as_utc(moment: Any) -> Any:
    """A stored time as aware UTC (SQLite gives it back naive)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgresql_records_on_a_case_it_kept_in_one_statement(
    services: Services, sessions: sessionmaker[Session], database: Engine, clock: FakeClock
) -> None:
    """A case this process has not written is read first (the role, the key and the case, then
    its history); once the process keeps it (it wrote or registered it), a record is the write
    alone: one round trip."""
    records = _statements_of_records(services, sessions, database, clock)
    assert all("WITH bumped" in statements[-1] for statements in records)
    counts = [len(statements) for statements in records]
    assert counts[0] >= 3  # nothing kept: reads, then the write
    assert counts[1:] == [1, 1]


def _statements_of_records(
    services: Services, sessions: sessionmaker[Session], database: Engine, clock: FakeClock
) -> list[list[str]]:
    """The statements (whitespace collapsed) of three records by ``services``: two on a case
    another process registered (the first reads it; the process keeps it after), then one on a
    case ``services`` registered (kept from the start).

    As the driver ran them (BEGIN and COMMIT left out), not as SQLAlchemy's events saw them: the
    record path runs its statements on the driver's connection, past those events. On SQLite,
    its driver's trace (values filled in); on PostgreSQL, every cursor's ``execute``."""
    other = Services(sessions=sessions, clock=clock, protocol=services.protocol)
    elsewhere = new_case(other, clock)
    here = new_case(services, clock)
    records: list[list[str]] = []

    def seen(statement: str) -> None:
        if records and statement.split(maxsplit=1)[0].upper() not in {
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
        }:
            records[-1].append(" ".join(statement.split()))

    def traced(dbapi_connection: Any, _record: Any) -> None:
        if database.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(seen)
        else:
            dbapi_connection.cursor_factory = _cursor_telling(seen)

    database.dispose()  # the connections made from here on are traced
    event.listen(database, "connect", traced)
    try:
        for code in (elsewhere, elsewhere, here):
            records.append([])
            clock.advance(hours=1)
            assess(services, code)
    finally:
        event.remove(database, "connect", traced)
        database.dispose()
    return records


def _cursor_telling(seen: Callable[[str], None]) -> type[Any]:
    """A psycopg cursor class that passes each statement it executes to ``seen``."""
    import psycopg

    class Telling(psycopg.Cursor[Any]):
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            seen(str(query))
            return super().execute(query, *args, **kwargs)

        def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            seen(str(query))
            return super().executemany(query, *args, **kwargs)

    return Telling


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_records_on_a_case_it_kept_with_the_guarded_bump_first(
    services: Services, sessions: sessionmaker[Session], database: Engine, clock: FakeClock
) -> None:
    """A case this process has not written is read first (the role and the key), then locked;
    once the process keeps it, nothing is read before the write: the transaction opens with the
    bump that checks the kept revision and the member's role, so SQLite's write lock is taken
    after the grading, not before it."""
    firsts = [
        statements[0] for statements in _statements_of_records(services, sessions, database, clock)
    ]
    assert firsts[0].startswith("SELECT")  # nothing kept: the role and the key are read
    guarded_bump = re.compile(
        r'UPDATE "case" SET revision = (\d+) WHERE id = \d+ AND revision = \1 - 1 '
        r"AND status = 'active'"
    )
    assert all(guarded_bump.match(first) for first in firsts[1:]), firsts
    assert all("FROM member WHERE slack_user_id = 'U0" in first for first in firsts[1:])
    assert count(sessions, models.Assessment) == 3
