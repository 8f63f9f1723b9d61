"""The use cases every front end calls: one object, one transaction per call.

``Services`` wires the database, the clock and the protocol to the grading core and the guidance
engine. Each call checks the actor's role (deny by default; a denial is audited and committed),
does its work in ONE transaction with its audit event, and turns a database that cannot be
reached into :class:`NotRecorded`: a failure stores nothing, and the next call works once the
database is back. Idempotency keys (a Slack event id, a trigger id, a client key) make a repeat
return the first result instead of storing twice, even when two arrive at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import models
from bot.db.driver_sql import AutocommitConnection, autocommit_connection
from bot.services import cases as case_store
from bot.services import queries
from bot.services.audit import record_audit
from bot.services.errors import CaseClosed, NotRecorded
from bot.services.history import assessment_inputs, load_history, patient_of
from bot.services.members import Denied, Role, check_role, role_of, set_role
from bot.services.record_reads import read_for_record
from bot.services.record_writes import bump_kept_case, write_record
from bot.services.reminder_plan import next_reminders
from bot.services.reminders import ReminderStatus
from bot.services.state_cache import CachedCase, StateCache
from bot.services.threads import CaseThread
from grading.assessment import Assessment
from grading.case import (
    CaseHistory,
    Dose,
    Lab,
    StatedGrades,
    TimedAssessment,
    field_errors,
)
from grading.errors import FieldError, InputError
from grading.guidance import advise
from grading.guidance_types import Advice, CaseState, GradedAssessment
from grading.protocol import Protocol
from grading.state import derive_state
from grading.version import ENGINE_VERSION

FUTURE_SKEW: Final = timedelta(minutes=5)  # clocks drift; an assessment "at 14:31" at 14:29 is fine
_AUTOCOMMIT: Final = {"isolation_level": "AUTOCOMMIT"}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, and through which front end.

    ``trusted`` is the operator's command line on the server itself: it acts as an admin.
    """

    user: str
    source: str
    trusted: bool = False


OPERATOR: Final = Actor("operator", "cli", trusted=True)


@dataclass(frozen=True, slots=True)
class RecordedAssessment:
    """An assessment as stored, graded in the case's context, with the advice it brings."""

    code: str
    assessment_id: int
    graded: GradedAssessment
    advice: Advice
    created: bool  # False when an idempotency key repeated an earlier call


@dataclass(frozen=True, slots=True)
class RecordedDose:
    """A dose as stored, flagged when it broke a limit (stored all the same, D17)."""

    code: str
    dose_id: int
    flags: tuple[str, ...]
    state: CaseState
    created: bool


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case, its state and the advice now (for ``show``)."""

    case: models.Case
    state: CaseState
    advice: Advice


_RECORDERS_KEPT: Final = 4096  # members whose role to remember; a programme has far fewer


@dataclass(frozen=True, slots=True)
class _Written:
    """A record's write, before its transaction committed: what it returns, the copy to keep,
    and the earliest reminder it scheduled."""

    recorded: RecordedAssessment
    kept: CachedCase
    first_due: datetime | None


class Services:
    """toxbot's use cases over one database, clock and protocol."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        protocol: Protocol,
        code_source: Callable[[], str] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.protocol = protocol
        self._code_source = code_source
        self._states = StateCache()
        # Members seen allowed to record assessments, with that role: a record on a kept copy
        # writes only if they still hold it (record_writes checks), so a stale entry costs a
        # read, never a wrong permission.
        self._recorders: dict[str, str] = {}
        bind = sessions.kw.get("bind")
        self._bind: Engine | None = bind if isinstance(bind, Engine) else None
        self._postgresql = self._bind is not None and self._bind.dialect.name == "postgresql"
        # Told the earliest due time of the reminders a record scheduled, once it committed:
        # the running reminder scheduler sets it so a reminder due soon is not left to a sweep.
        self.reminders_planned: Callable[[datetime], None] | None = None

    # ----------------------------------------------------------------------------------------
    # Cases

    def register_case(self, actor: Actor, data: Mapping[str, Any]) -> models.Case:
        """Register a case (design §5 ``/tox new``); returns it with its pseudonymous code."""
        new = case_store.validate_new_case(dict(data))
        now = self._clock.now()
        with self._transaction() as session:
            role = self._authorize(session, actor, "case.new", None, now)
            options = {"code_source": self._code_source} if self._code_source else {}
            case = case_store.register_case(session, new, actor=actor.user, at=now, **options)
            self._audit(
                session,
                actor,
                role,
                now,
                "case.new",
                case.code,
                "case",
                case.code,
                {"product": case.product},
            )
        self._keep_new_case(case, now)
        return case

    def _keep_new_case(self, case: models.Case, now: datetime) -> None:
        """Keep a committed new case's copy (no history yet), so its first record reads
        nothing it already knows (:mod:`bot.services.state_cache`)."""
        written = case_store.registered_case(case)
        history = CaseHistory.model_construct(
            patient=patient_of(written), assessments=(), doses=(), labs=()
        )
        state = derive_state(history, self.protocol, now)
        self._states.put(case.id, CachedCase(written.revision, history, state, written))

    def close_case(
        self, actor: Actor, code: str, *, outcome: str, cause: str | None = None
    ) -> models.Case:
        """Close a case with its outcome; cancels its reminders."""
        now = self._clock.now()
        with self._transaction() as session:
            role = self._authorize(session, actor, "case.close", code, now)
            case = case_store.close_case(
                session, code, outcome=outcome, attributed_to=cause, at=now
            )
            self._audit(
                session,
                actor,
                role,
                now,
                "case.close",
                case.code,
                "case",
                case.code,
                {"outcome": case.outcome, "cause": case.death_attributed_to},
            )
            return case

    def list_cases(self, actor: Actor, *, status: str | None = None) -> list[models.Case]:
        """Cases, oldest first; ``status`` is ``active`` or ``closed`` to filter."""
        now = self._clock.now()
        with self._transaction() as session:
            role = self._authorize(session, actor, "case.view", None, now)
            found = case_store.list_cases(session, status=status)
            self._audit(
                session, actor, role, now, "case.list", None, None, None, {"count": len(found)}
            )
            return found

    def show_case(self, actor: Actor, code: str) -> CaseView:
        """A case with its state and the advice now; the view is audited."""
        now = self._clock.now()
        with self._transaction() as session:
            role = self._authorize(session, actor, "case.view", code, now)
            case = case_store.get_case(session, code)
            state = self._state(session, case, now)
            self._audit(session, actor, role, now, "case.view", case.code, "case", case.code, {})
            return CaseView(case, state, advise(state, self.protocol, now))

    def case_state(self, code: str, *, now: datetime | None = None) -> CaseState:
        """The state of a case at ``now`` (no role check: for the bot's own use, e.g. reminders)."""
        moment = now or self._clock.now()
        with self._transaction() as session:
            return self._state(session, case_store.get_case(session, code), moment)

    # ----------------------------------------------------------------------------------------
    # Recording

    def record_assessment(
        self,
        actor: Actor,
        code: str,
        assessment: Assessment,
        *,
        at: datetime | None = None,
        stated: StatedGrades | None = None,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> RecordedAssessment:
        """Grade an assessment in its case's context and store it, its audit event and the
        reminders it implies in ONE transaction. A repeated key returns the first result."""
        now = self._clock.now()
        moment = self._moment(at, now)
        timed = _timed(assessment, moment, stated)
        key = idempotency_key or f"auto:{uuid.uuid4()}"
        try:
            recorded = self._record_on_kept_copy(actor, code, timed, note, key, now)
            if recorded is None:
                recorded = self._try_record(actor, code, timed, note, key, idempotency_key, now)
            if recorded is None:  # another write came first: again, holding the case's lock
                recorded = self._try_record(
                    actor, code, timed, note, key, idempotency_key, now, locked=True
                )
            if recorded is None:  # pragma: no cover - nothing else can write a locked case
                raise RuntimeError("a locked case was written to by another transaction")
            return recorded
        except IntegrityError:
            # The same key committed by a concurrent call first: return that one (no-op).
            with self._transaction() as session:
                existing = _by_key(session, models.Assessment, key)
                if existing is None:
                    raise
                return self._replay_assessment(session, existing, now)

    def _try_record(
        self,
        actor: Actor,
        code: str,
        timed: TimedAssessment,
        note: str | None,
        key: str,
        idempotency_key: str | None,
        now: datetime,
        *,
        locked: bool = False,
    ) -> RecordedAssessment | None:
        """One attempt at :meth:`record_assessment`; None when another write to the case came
        first (PostgreSQL: nothing was stored, and the caller tries again on the new history).

        The transaction writes once (:func:`bot.services.record_writes.write_record`). On
        PostgreSQL the case is only read first (:func:`bot.services.cases.case_for_record`) and
        the connection is in autocommit, so that one statement is the transaction: no BEGIN, no
        COMMIT, no row lock held while Python grades. ``locked`` (the second attempt) takes the
        case's row lock first instead, so no other write can come first again.
        """
        with self._transaction(single_write=not locked) as session:
            # A key made here is a fresh UUID: nothing can hold it yet, so no lookup.
            reads = read_for_record(
                session,
                user=None if actor.trusted else actor.user,
                key=idempotency_key,
                code=code,
                with_case=self._postgresql and not locked,
            )
            role = self._check_role(session, actor, reads.role, "assessment.record", code, now)
            if reads.seen is not None:
                existing = session.get_one(models.Assessment, reads.seen)
                return self._replay_assessment(session, existing, now)
            case = (
                case_store.case_from_row(reads.case_row, code)
                if reads.case_row is not None
                else case_store.case_for_record(session, code, locked=locked)
            )
            if role is not None and not actor.trusted:
                if len(self._recorders) >= _RECORDERS_KEPT:
                    self._recorders.clear()
                self._recorders[actor.user] = role
            history, previous = self._written_before(session, case)
            written = self._write_assessment(
                session, actor, role, case, history, previous, timed, note, key, now
            )
        return self._kept(written)

    def _record_on_kept_copy(
        self,
        actor: Actor,
        code: str,
        timed: TimedAssessment,
        note: str | None,
        key: str,
        now: datetime,
    ) -> RecordedAssessment | None:
        """:meth:`record_assessment` on a case this process kept a copy of
        (:mod:`bot.services.state_cache`), by a member it has seen allowed to record, with no
        read first; None when that is not so, or the write found things changed (nothing
        stored).

        The write itself checks what the reads would have (the case is still at the kept
        revision and active, the member still holds the role), and an idempotency key already
        stored fails its unique index, which :meth:`record_assessment` answers with the first
        result. PostgreSQL: the write is one statement, one round trip. SQLite: the assessment
        is graded before the transaction writes, so SQLite's one write lock is held for the
        statements only, never while Python grades, and other requests grade meanwhile.
        """
        kept = self._states.latest(code.strip().upper())
        role = Role.ADMIN.value if actor.trusted else self._recorders.get(actor.user)
        if kept is None or role is None:
            return None
        case = replace(kept.case, revision=kept.revision + 1)
        # A connection, no session: on PostgreSQL in autocommit (the one statement is the
        # transaction); on SQLite its transaction begins with the write's first statement.
        with self._write_connection() as connection:
            written = self._write_assessment(
                connection,
                actor,
                role,
                case,
                kept.history,
                kept.state,
                timed,
                note,
                key,
                now,
                member=None if actor.trusted else actor.user,
            )
        return self._kept(written)

    def _write_assessment(
        self,
        writer: Session | Connection | AutocommitConnection,
        actor: Actor,
        role: str | None,
        case: case_store.LockedCase,
        history: CaseHistory,
        previous: CaseState | None,
        timed: TimedAssessment,
        note: str | None,
        key: str,
        now: datetime,
        *,
        member: str | None = None,
    ) -> _Written | None:
        """Grade ``timed`` on the history before it and write the record with ``writer``
        (``member``: see :func:`bot.services.record_writes.write_record`); None when nothing was
        written."""
        moment = timed.at
        history = history.model_copy(update={"assessments": (*history.assessments, timed)})
        state = derive_state(history, self.protocol, max(now, moment), previous=previous)
        graded = next(g for g in reversed(state.assessments) if g.assessment is timed)
        advice = advise(state, self.protocol, max(now, moment))
        values = _assessment_row(case, timed, graded, actor, note, key, self.protocol, now)
        event = {
            "at": now,
            "actor": actor.user,
            "action": "assessment.record",
            "source": actor.source,
            "role": role,
            "case_code": case.code,
            "object_type": "assessment",
            "detail": {
                "crs": values["crs_grade"],
                "icans": values["icans_grade"],
                "key": key,
            },
        }
        if isinstance(writer, Connection) and not self._postgresql:
            # SQLite, a kept copy: the bump checks what was not read, and takes the write lock.
            if not bump_kept_case(writer, case, member=member, role=role):
                return None
            member = None
        # PostgreSQL's write leaves out re-reviews still open itself: no query for them here.
        reminders = next_reminders(
            None if self._postgresql else _connection_of(writer), case, advice, at=now
        )
        row_id = write_record(
            writer,
            assessment=values,
            event=event,
            reminders=reminders,
            case=case,
            at=now,
            member=member,
        )
        if row_id is None:
            return None
        return _Written(
            RecordedAssessment(case.code, row_id, graded, advice, created=True),
            CachedCase(case.revision, history, state, case),
            min((row["due_at"] for row in reminders), default=None),
        )

    def _kept(self, written: _Written | None) -> RecordedAssessment | None:
        """After the record's transaction committed: keep its copy, wake the reminders."""
        if written is None:
            return None
        self._states.put(written.kept.case.id, written.kept)  # committed: the database's now
        if written.first_due is not None and self.reminders_planned is not None:
            self.reminders_planned(written.first_due)
        return written.recorded

    def record_dose(
        self,
        actor: Actor,
        code: str,
        data: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> RecordedDose:
        """Store a dose; one given against a limit is stored (it happened) and flagged (D17)."""
        now = self._clock.now()
        dose = _validated(Dose, {"at": now, **data})
        self._moment(dose.at, now)
        key = idempotency_key or f"auto:{uuid.uuid4()}"
        try:
            with self._transaction() as session:
                role = self._authorize(session, actor, "dose.record", code, now)
                existing = _by_key(session, models.Dose, key)
                if existing is not None:
                    return self._replay_dose(session, existing, now)
                case = case_store.active_case(session, code)
                history, previous = self._written_before(session, case)
                history = history.model_copy(update={"doses": (*history.doses, dose)})
                state = derive_state(history, self.protocol, max(now, dose.at), previous=previous)
                flags = tuple(
                    breach
                    for breach in state.tocilizumab.limit_breaches
                    if dose.at.isoformat() in breach
                )
                row = models.Dose(
                    case_id=case.id,
                    drug=dose.drug.value,
                    dose_mg=dose.dose_mg,
                    route=dose.route.value if dose.route else None,
                    given_at=dose.at,
                    entered_by=actor.user,
                    flags=list(flags),
                    idempotency_key=key,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                self._audit(
                    session,
                    actor,
                    role,
                    now,
                    "dose.record",
                    case.code,
                    "dose",
                    str(row.id),
                    {"drug": row.drug, "dose_mg": row.dose_mg, "flags": len(flags), "key": key},
                )
                recorded_dose = RecordedDose(case.code, row.id, flags, state, created=True)
                kept = CachedCase(case.revision, history, state, case)
            self._states.put(case.id, kept)
            return recorded_dose
        except IntegrityError:
            with self._transaction() as session:
                existing = _by_key(session, models.Dose, key)
                if existing is None:
                    raise
                return self._replay_dose(session, existing, now)

    def record_labs(
        self,
        actor: Actor,
        code: str,
        results: Sequence[Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> int:
        """Store lab results (all or none); returns how many were stored (0 for a repeat)."""
        now = self._clock.now()
        labs = [_validated(Lab, {"at": now, **result}) for result in results]
        if not labs:
            raise InputError([FieldError("labs", "", "no results given", "analyte=value pairs")])
        for lab in labs:
            self._moment(lab.at, now)
        key = idempotency_key or f"auto:{uuid.uuid4()}"
        try:
            with self._transaction() as session:
                role = self._authorize(session, actor, "lab.record", code, now)
                if _by_key(session, models.Lab, f"{key}#0") is not None:
                    return 0
                case = case_store.active_case(session, code)
                session.add_all(
                    models.Lab(
                        case_id=case.id,
                        analyte=lab.analyte.value,
                        value=lab.value,
                        unit=lab.unit,
                        taken_at=lab.at,
                        entered_by=actor.user,
                        idempotency_key=f"{key}#{index}",
                        created_at=now,
                    )
                    for index, lab in enumerate(labs)
                )
                self._audit(
                    session,
                    actor,
                    role,
                    now,
                    "lab.record",
                    case.code,
                    "lab",
                    None,
                    {"analytes": sorted({lab.analyte.value for lab in labs}), "key": key},
                )
                return len(labs)
        except IntegrityError:
            return 0

    # ----------------------------------------------------------------------------------------
    # Roles

    def set_role(self, actor: Actor, target: str, role: str, *, unit: str | None = None) -> None:
        """Give a Slack user a role (admins only); the change is audited."""
        now = self._clock.now()
        try:
            chosen = Role(role.lower())
        except ValueError:
            raise InputError(
                [FieldError("role", role, "not a role", ", ".join(r.value for r in Role))]
            ) from None
        with self._transaction() as session:
            acting = self._authorize(session, actor, "role.set", None, now)
            set_role(session, actor=actor.user, target=target, role=chosen, unit=unit, at=now)
            self._audit(
                session,
                actor,
                acting,
                now,
                "role.set",
                None,
                "member",
                target,
                {"role": chosen.value},
            )

    # ----------------------------------------------------------------------------------------
    # Plumbing

    @contextmanager
    def _transaction(self, *, single_write: bool = False) -> Iterator[Session]:
        """One transaction; a database that cannot be reached becomes NotRecorded.

        ``single_write``: the caller writes in one statement at most (reads before it are
        free), so on PostgreSQL the connection runs in autocommit: that statement is atomic by
        itself and no BEGIN or COMMIT round trip is paid. Elsewhere it changes nothing.
        """
        try:
            with self._sessions.begin() as session:
                if single_write and self._postgresql:
                    session.connection(execution_options=_AUTOCOMMIT)
                yield session
        except (OperationalError, InterfaceError) as exc:
            raise NotRecorded() from exc

    @contextmanager
    def _write_connection(self) -> Iterator[Connection | AutocommitConnection]:
        """A connection for a record that reads nothing first (a kept copy); a database that
        cannot be reached becomes NotRecorded. PostgreSQL: in autocommit, for a write that is
        one statement. SQLite: in a transaction, committed when the block ends, that takes the
        write lock with its first statement."""
        if self._bind is None:
            raise RuntimeError("these sessions are bound to no engine")
        try:
            if self._postgresql:
                with autocommit_connection(self._bind) as autocommit:
                    yield autocommit
            else:
                with self._bind.begin() as connection:
                    yield connection
        except (OperationalError, InterfaceError) as exc:
            raise NotRecorded() from exc

    def _authorize(
        self, session: Session, actor: Actor, action: str, code: str | None, now: datetime
    ) -> str | None:
        if actor.trusted:
            return Role.ADMIN.value
        return self._check_role(session, actor, role_of(session, actor.user), action, code, now)

    def _check_role(
        self,
        session: Session,
        actor: Actor,
        role: Role | None,
        action: str,
        code: str | None,
        now: datetime,
    ) -> str | None:
        """The actor's role (already read) if it allows ``action``; else the denial is audited
        and committed, and :class:`Denied` raised."""
        if actor.trusted:
            return Role.ADMIN.value
        try:
            return check_role(
                session,
                role,
                actor=actor.user,
                action=action,
                at=now,
                source=actor.source,
                case_code=code,
                audit=record_audit,
            ).value
        except Denied:
            # The denial is audited in this transaction: keep it, then refuse.
            session.commit()
            raise

    def _audit(
        self,
        session: Session,
        actor: Actor,
        role: str | None,
        now: datetime,
        action: str,
        code: str | None,
        object_type: str | None,
        object_id: str | None,
        detail: Mapping[str, Any],
    ) -> None:
        record_audit(
            session,
            at=now,
            actor=actor.user,
            action=action,
            source=actor.source,
            role=role,
            case_code=code,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )

    def _written_before(
        self, session: Session, case: case_store.LockedCase
    ) -> tuple[CaseHistory, CaseState | None]:
        """The history as it was before this transaction's write, and a state to build on.

        ``case`` came from :func:`case_store.active_case`, which bumped its revision: the copy
        kept after the last committed write is current when it is one revision behind.
        """
        cached = self._states.get(case.id, case.revision - 1)
        if cached is not None:
            return cached.history, cached.state
        return load_history(session, case), None

    def _state(self, session: Session, case: models.Case, now: datetime) -> CaseState:
        """The case's state at ``now``, from the kept copy when it is current."""
        cached = self._states.get(case.id, case.revision)
        if cached is not None:
            return derive_state(cached.history, self.protocol, now, previous=cached.state)
        return derive_state(load_history(session, case), self.protocol, now)

    def _moment(self, at: datetime | None, now: datetime) -> datetime:
        if at is None:
            return now
        if at.tzinfo is None:
            raise InputError(
                [
                    FieldError(
                        "at",
                        at.isoformat(),
                        "has no time zone",
                        "a time with an offset, or a time of day",
                    )
                ]
            )
        if at > now + FUTURE_SKEW:
            raise InputError(
                [FieldError("at", at.isoformat(), "is in the future", "a time at or before now")]
            )
        return at

    def _replay_assessment(
        self, session: Session, row: models.Assessment, now: datetime
    ) -> RecordedAssessment:
        case = session.get_one(models.Case, row.case_id)
        state = derive_state(load_history(session, case), self.protocol, max(now, row.assessed_at))
        graded = next(
            g
            for g in reversed(state.assessments)
            if g.at == row.assessed_at and assessment_inputs(g.assessment) == row.inputs
        )
        return RecordedAssessment(
            case.code, row.id, graded, advise(state, self.protocol, now), created=False
        )

    def _replay_dose(self, session: Session, row: models.Dose, now: datetime) -> RecordedDose:
        case = session.get_one(models.Case, row.case_id)
        state = derive_state(load_history(session, case), self.protocol, max(now, row.given_at))
        return RecordedDose(case.code, row.id, tuple(row.flags), state, created=False)

    # ----------------------------------------------------------------------------------------
    # Queries (issue 5): read-only views for /tox summary, due and report. Each checks the role
    # and audits the view here; the reading itself is in bot.services.queries.

    def now(self) -> datetime:
        """The services' clock: front ends place "at=14:30" on a date with it."""
        return self._clock.now()

    def case_summary(self, actor: Actor, code: str) -> queries.CaseSummary:
        """A case's status, day, current and worst grades, drugs given and refractory flags."""
        now = self._clock.now()
        with self._transaction() as session:
            role = self._authorize(session, actor, "case.view", code, now)
            summary = queries.case_summary(session, code, self.protocol, now)
            self._audit(
                session,
                actor,
                role,
                now,
                "case.view",
                summary.code,
                "case",
                summary.code,
                {"view": "summary"},
            )
            return summary

    def due_reminders(
        self, actor: Actor, *, code: str | None = None, recipient: str | None = None
    ) -> queries.DueList:
        """Open reminders for one case, or for one recipient (by default the actor)."""
        now = self._clock.now()
        with self._transaction() as session:
            role = self._authorize(session, actor, "case.view", code, now)
            who = None if code is not None else (recipient or actor.user)
            found = queries.due_reminders(session, recipient=who, code=code)
            self._audit(
                session,
                actor,
                role,
                now,
                "case.view",
                code,
                "reminder",
                None,
                {"view": "due", "count": len(found.reminders) + found.more},
            )
            return found

    def programme_report(
        self,
        actor: Actor,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        product: str | None = None,
        export: bool = False,
    ) -> queries.Report:
        """Counts per product (``report.view``; ``export`` for CSV needs ``report.export``)."""
        now = self._clock.now()
        action = "report.export" if export else "report.view"
        with self._transaction() as session:
            role = self._authorize(session, actor, action, None, now)
            report = queries.programme_report(session, start=start, end=end, product=product)
            self._audit(
                session,
                actor,
                role,
                now,
                action,
                None,
                "report",
                None,
                {
                    "from": start.isoformat() if start else None,
                    "to": end.isoformat() if end else None,
                    "product": report.product,
                    "cases": report.cases,
                },
            )
            return report

    # ----------------------------------------------------------------------------------------
    # Slack plumbing (issue 5): case threads, deliveries already handled, role checks before a
    # form opens. The work is in bot.services.threads and bot.services.deliveries.

    def case_thread(self, code: str) -> CaseThread:
        """The case's Slack channel and thread root (no role check: the bot's own posting)."""
        from bot.services.threads import case_thread

        with self._transaction() as session:
            return case_thread(session, code)

    def claim_case_thread(self, code: str, channel: str, ts: str) -> CaseThread:
        """Make ``channel``/``ts`` the case's thread unless it has one; the thread in use."""
        from bot.services.threads import claim_case_thread

        with self._transaction() as session:
            return claim_case_thread(session, code, channel, ts)

    def first_delivery(self, key: str) -> bool:
        """True the first time a Slack delivery key (event id, action ts, post key) is seen."""
        from bot.services.deliveries import first_delivery

        with self._transaction() as session:
            return first_delivery(session, key, self._clock.now())

    def forget_delivery(self, key: str) -> None:
        """Forget a delivery whose handling failed, so Slack's retry is handled again."""
        from bot.services.deliveries import forget_delivery

        with self._transaction() as session:
            forget_delivery(session, key)

    def purge_deliveries(self) -> int:
        """Drop delivery keys older than a day; how many went."""
        from bot.services.deliveries import purge_deliveries

        with self._transaction() as session:
            return purge_deliveries(session, self._clock.now())

    def check_allowed(self, actor: Actor, action: str, code: str | None = None) -> None:
        """Raise :class:`Denied` (audited) unless the actor's role allows ``action``, then,
        when ``code`` names a case, :class:`CaseNotFound` or :class:`CaseClosed` unless it is
        there and active.

        For a form about to open: a forwarded button is checked against whoever pressed it, and
        a form for a mistyped code or a closed case is refused before anyone fills it in (its
        submission would store nothing).
        """
        with self._transaction() as session:
            self._authorize(session, actor, action, code, self._clock.now())
            if code is not None:
                case = case_store.get_case(session, code)
                if case.status != "active":
                    raise CaseClosed(case.code)

    @property
    def bind(self) -> Engine | None:
        """The engine the services' sessions use (None when bound to none)."""
        return self._bind

    @property
    def embedded_database(self) -> bool:
        """Whether the database is SQLite, in this process, where writes take turns."""
        return self._bind is not None and self._bind.dialect.name == "sqlite"

    def database_reachable(self) -> bool:
        """Whether the database answers a trivial query now (for ``/healthz``)."""
        from sqlalchemy import text

        try:
            with self._transaction() as session:
                session.execute(text("SELECT 1"))
        except NotRecorded:
            return False
        return True

    # ----------------------------------------------------------------------------------------
    # Reminder buttons (issue 6): Acknowledge and Snooze. Role "reminder.ack" AND assignment
    # (bot.services.reminders); idempotent: a repeat press returns the row unchanged.

    def acknowledge_reminder(self, actor: Actor, reminder_id: int) -> ReminderStatus:
        """Acknowledge a reminder (it stops escalating); e.g. 'acknowledged by U123 at 14:05'."""
        return self._reminder_action(actor, reminder_id, "reminder.acknowledged")

    def snooze_reminder(self, actor: Actor, reminder_id: int) -> ReminderStatus:
        """Snooze a sent reminder for the protocol's snooze time, at most ``max_snoozes`` times;
        a refused snooze comes back with ``refusal`` set and nothing changed."""
        return self._reminder_action(actor, reminder_id, "reminder.snoozed")

    def _reminder_action(self, actor: Actor, reminder_id: int, action: str) -> ReminderStatus:
        from bot.services import reminders

        now = self._clock.now()
        with self._transaction() as session:
            role = self._authorize(session, actor, "reminder.ack", None, now)
            reminder, case = reminders.locked_reminder(session, reminder_id)
            if not actor.trusted and not reminders.is_assigned(
                session, reminder, case, actor.user, role
            ):
                self._audit(
                    session,
                    actor,
                    role,
                    now,
                    "denied:reminder.ack",
                    case.code,
                    "reminder",
                    str(reminder_id),
                    {"reason": "not_assigned"},
                )
                session.commit()
                raise reminders.NotAssigned()
            before = reminder.state
            if action == "reminder.acknowledged":
                done = reminders.acknowledge(session, reminder, case, user=actor.user, at=now)
            else:
                escalation = self.protocol.escalation
                done = reminders.snooze(session, reminder, case, escalation=escalation, at=now)
            if done.changed:
                self._audit(
                    session,
                    actor,
                    role,
                    now,
                    action,
                    case.code,
                    "reminder",
                    str(reminder_id),
                    {"from": before, "level": done.level, "snoozes": done.snooze_count},
                )
            return done


def _connection_of(writer: Session | Connection | AutocommitConnection) -> Connection:
    if isinstance(writer, AutocommitConnection):
        raise TypeError("an autocommit connection writes one statement: nothing to read on it")
    return writer if isinstance(writer, Connection) else writer.connection()


def _timed(assessment: Assessment, at: datetime, stated: StatedGrades | None) -> TimedAssessment:
    """The assessment with its time and stated grades. Not validated again: the assessment was
    validated when it was made, ``at`` was checked aware (``_moment``) and ``stated`` is a
    validated model."""
    return TimedAssessment.model_construct(
        _fields_set=assessment.model_fields_set | {"at", "stated"},
        **assessment.__dict__,
        at=at,
        stated=stated,
    )


def _validated(model: type[Dose] | type[Lab], data: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None


def _by_key(session: Session, model: Any, key: str) -> Any:
    """The row stored under ``key``, or None: an id-only lookup first (nearly always a miss),
    the whole row only when there is one to replay."""
    found = session.connection().execute(_KEY_LOOKUPS[model], {"key": key}).scalar()
    return None if found is None else session.get(model, found)


_KEY_LOOKUPS: Final = {
    model: select(model.__table__.c.id).where(model.__table__.c.idempotency_key == bindparam("key"))
    for model in (models.Assessment, models.Dose, models.Lab)
}


def _assessment_row(
    case: case_store.LockedCase,
    timed: TimedAssessment,
    graded: GradedAssessment,
    actor: Actor,
    note: str | None,
    key: str,
    protocol: Protocol,
    now: datetime,
) -> dict[str, Any]:
    crs, icans = graded.result.crs, graded.result.icans
    return {
        "case_id": case.id,
        "assessed_at": timed.at,
        "entered_by": actor.user,
        "source": actor.source,
        "inputs": assessment_inputs(timed),
        "note": note,
        "stated": timed.stated.model_dump() if timed.stated else None,
        "crs_grade": crs.grade,
        "crs_low": crs.range[0] if crs.range else None,
        "crs_high": crs.range[1] if crs.range else None,
        "crs_status": crs.status.value,
        "icans_grade": icans.grade,
        "icans_low": icans.range[0] if icans.range else None,
        "icans_high": icans.range[1] if icans.range else None,
        "icans_status": icans.status.value,
        "icans_tool": icans.tool.value if icans.tool else None,
        "result": graded.result.as_dict(),
        "engine_version": ENGINE_VERSION,
        "protocol_id": protocol.id,
        "protocol_version": protocol.version,
        "idempotency_key": key,
        "created_at": now,
    }


__all__ = [
    "OPERATOR",
    "Actor",
    "CaseHistory",
    "CaseView",
    "RecordedAssessment",
    "RecordedDose",
    "Services",
]
