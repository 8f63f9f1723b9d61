"""The reminder dispatcher: claims due rows, delivers them, records how it went (design §8).

The ``reminder`` table is the truth; the scheduler only calls :meth:`Dispatcher.run_once` (at the
next due time and on a 30 s sweep) and :meth:`Dispatcher.reconcile` at start-up.

One pass, per batch of rows:

1. Claim (one short transaction): due rows are read ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
   (SQLite has one dispatching process; its transaction is enough). For each, the pure policy
   (:mod:`reminders.policy`) says what it needs; a row to deliver moves to ``sending`` at the
   level it will be delivered at, ``attempts`` + 1, ``wake_at`` = now + :data:`SENDING_LEASE`,
   every update checked against ``version`` and audited.
2. Deliver OUTSIDE any transaction through the :class:`~reminders.notifier.Notifier`, each
   row in turn, noting when each delivery ended.
3. Finish the batch (one transaction, the rows locked again): ``sent`` (level 0) or
   ``escalated`` (level 1 and 2) with the next ``wake_at``; a transient failure stays
   ``sending`` until its retry time (``Retry-After`` honoured); a permanent one escalates at
   once. Only the error CODE is stored and audited.

Due rows are read in time order from two indexes, a batch from each: pending rows by
``due_at``, delivered ones (escalations, retries) by ``wake_at`` (the partial index of migration
0007), so a pass costs the same however many reminders the table holds or how far behind it is.

A crash between 1 and 3 leaves ``sending``: the lease runs out and the sweep delivers again, or
:meth:`reconcile` does at start-up. A repeat is possible only there, and its attempt is recorded;
a finish that fails (the database went away mid-batch) leaves its whole batch so, too.
If a row changed while it was being delivered (acknowledged, snoozed, resolved by an assessment,
cancelled), the delivery is audited as superseded and the row left as it is.

Audit actions (actor ``toxbot``, source ``scheduler``, object ``reminder``/id, detail facts only):
``reminder.sending``, ``reminder.retry``, ``reminder.sent``, ``reminder.escalated``,
``reminder.delivery_failed``, ``reminder.superseded``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from bot.clock import Clock
from bot.db import models
from bot.services.audit import record_audit
from grading.protocol import Protocol
from reminders import policy
from reminders.contacts import CaseRef, Contacts, Who
from reminders.notifier import Delivery, Notifier, Outcome, ReminderMessage, Role, Target
from reminders.policy import Action, Facts, State, Step

log = logging.getLogger(__name__)

ACTOR: Final = "toxbot"
SOURCE: Final = "scheduler"
SENDING_LEASE: Final = timedelta(minutes=2)
"""A row left ``sending`` this long (its process died mid-delivery) is delivered again."""
BATCH: Final = 100
MAX_ROUNDS: Final = 50  # claim rounds per pass; what is left waits for the next pass
RETRY_BACKOFF: Final = (5.0, 15.0, 30.0, 60.0)  # seconds after a transient failure, by attempt

_R = models.Reminder
_PENDING_DUE: Final = select(func.min(_R.due_at)).where(_R.state == State.PENDING)
_AWAKE_DUE: Final = select(func.min(_R.wake_at)).where(models.awake_reminder())
# When the dispatcher is next needed: the first entries of two indexes, in one statement.
_NEXT_DUE: Final = select(
    _PENDING_DUE.scalar_subquery().label("pending"), _AWAKE_DUE.scalar_subquery().label("awake")
)


@dataclass
class DispatchReport:
    """What one pass did. ``lateness``: how late each first delivery was against its due time."""

    sent: int = 0
    escalated: int = 0
    retried: int = 0
    failed: int = 0
    superseded: int = 0
    lateness: list[timedelta] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        """Deliveries that went out (sent and escalated)."""
        return self.sent + self.escalated


@dataclass(frozen=True, slots=True)
class _Claim:
    """A row claimed for delivery: what to deliver, and the version the finish must find."""

    reminder_id: int
    version: int
    level: int
    first: bool  # first delivery to the recipient (its lateness is reported)
    messages: tuple[ReminderMessage, ...]
    case_code: str


class Dispatcher:
    """Delivers due reminders and escalates unacknowledged ones (module docstring).

    ``who`` finds a case's nurses, charge nurse and on-call channel
    (:func:`reminders.contacts.settings_contacts` builds it from the settings).

    Example::

        dispatcher = Dispatcher(sessions=sessions, clock=SystemClock(), protocol=protocol,
                                notifier=ConsoleNotifier(sys.stdout), who=who)
        dispatcher.reconcile()            # at start-up
        dispatcher.run_once()             # on each wake-up
        dispatcher.next_due_at()          # when to wake next
    """

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Clock,
        protocol: Protocol,
        notifier: Notifier,
        who: Who,
        batch: int = BATCH,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._protocol = protocol
        self._notifier = notifier
        self._who = who
        self._batch = batch

    # ---------------------------------------------------------------------------------------
    # Public API (called by reminders.scheduler)

    def run_once(self, now: datetime | None = None) -> DispatchReport:
        """Deliver everything due at ``now`` (default: the clock) and escalate what is owed.

        Repeats while rows need a further step at once (sent, then escalated for an overdue
        row), at most :data:`MAX_ROUNDS` rounds; what is left waits for the next call.
        """
        report = DispatchReport()
        for _ in range(MAX_ROUNDS):
            moment = now or self._clock.now()
            claims = self._claim(moment, everything_sending=False)
            if not claims:
                break
            self._deliver(claims, now, report)
        return report

    def dispatch_due(self, now: datetime | None = None) -> DispatchReport:
        """Same as :meth:`run_once` (sending and escalating are one pass over due rows)."""
        return self.run_once(now)

    def escalate(self, now: datetime | None = None) -> DispatchReport:
        """Same as :meth:`run_once`: the escalation pass is the same claim over ``wake_at``."""
        return self.run_once(now)

    def reconcile(self, now: datetime | None = None) -> DispatchReport:
        """At start-up: deliver every row left ``sending`` (lease or not) and all that is due.

        Every reminder due while the process was down is delivered once, saying how late.
        """
        moment = now or self._clock.now()
        report = DispatchReport()
        claims = self._claim(moment, everything_sending=True)
        if claims:
            self._deliver(claims, now, report)
        more = self.run_once(now)
        report.sent += more.sent
        report.escalated += more.escalated
        report.retried += more.retried
        report.failed += more.failed
        report.superseded += more.superseded
        report.lateness.extend(more.lateness)
        return report

    def next_due_at(self) -> datetime | None:
        """The earliest moment a reminder will need the dispatcher (None: nothing open)."""
        with self._sessions.begin() as session:
            pending, awake = session.execute(_NEXT_DUE).one()
        found = [moment for moment in (pending, awake) if moment is not None]
        return min(found) if found else None

    # ---------------------------------------------------------------------------------------
    # Claim

    def _claim(self, now: datetime, *, everything_sending: bool) -> list[_Claim]:
        escalation = self._protocol.escalation
        awake = and_(models.awake_reminder(), _R.wake_at <= now)
        if everything_sending:
            awake = or_(awake, _R.state == State.SENDING)
        claims: list[_Claim] = []
        with self._sessions.begin() as session:
            # Each in its own index's order, so only a batch is read whatever the backlog.
            rows = [
                *session.execute(
                    self._due(and_(_R.state == State.PENDING, _R.due_at <= now), _R.due_at)
                ).all(),
                *session.execute(self._due(awake, _R.wake_at)).all(),
            ]
            grades = _last_grades(session, {row[0].case_id for row in rows})
            for reminder, code, unit, nurses in rows:
                step = policy.next_step(_facts(reminder), escalation, now)
                if step.action is Action.WAIT:
                    _set(session, reminder, now, wake_at=step.wake_at, overdue=step.overdue)
                    continue
                claim = self._claim_row(
                    session, reminder, step, now, CaseRef(code, unit, tuple(nurses or ())), grades
                )
                if claim is not None:
                    claims.append(claim)
        return claims

    def _due(self, condition: ColumnElement[bool], order: Any) -> Select[Any]:
        """Up to a batch of rows meeting ``condition`` in ``order``, with their case's code, unit
        and nurses, locked for the claim (rows another dispatcher holds are skipped)."""
        return (
            select(_R, models.Case.code, models.Case.unit, models.Case.nurses)
            .join(models.Case, models.Case.id == _R.case_id)
            .where(condition)
            .order_by(order, _R.id)
            .limit(self._batch)
            .with_for_update(skip_locked=True, of=_R)
        )

    def _claim_row(
        self,
        session: Session,
        reminder: models.Reminder,
        step: Step,
        now: datetime,
        case: CaseRef,
        grades: dict[int, tuple[int | None, int | None]],
    ) -> _Claim | None:
        retry = reminder.state == State.SENDING
        previous = reminder.state
        attempt = reminder.attempts + 1
        version = _set(
            session,
            reminder,
            now,
            state=State.SENDING,
            level=step.level,
            attempts=attempt,
            wake_at=now + SENDING_LEASE,
            overdue=step.overdue or reminder.overdue,
        )
        if version is None:
            return None
        _audit(
            session,
            now,
            "reminder.retry" if retry else "reminder.sending",
            case.code,
            reminder.id,
            {
                "from": previous,
                "level": step.level,
                "reason": step.reason.value,
                "attempt": attempt,
                "overdue": step.overdue,
            },
        )
        contacts = self._who(case)
        crs, icans = grades.get(reminder.case_id, (None, None))
        late_by = max(now - reminder.due_at, timedelta(0))
        snoozes_left = max(self._protocol.escalation.max_snoozes - reminder.snooze_count, 0)
        messages = tuple(
            ReminderMessage(
                reminder_id=reminder.id,
                case_code=case.code,
                kind=reminder.kind,
                due_at=reminder.due_at,
                level=step.level,
                target=target,
                late_by=late_by,
                overdue=step.overdue or reminder.overdue,
                crs_grade=crs,
                icans_grade=icans,
                snoozes_left=snoozes_left,
                attempt=attempt,
                recipient=reminder.recipient,
            )
            for target in targets(reminder.kind, reminder.recipient, step.level, contacts)
        )
        first = step.level == 0 and reminder.sent_at is None
        return _Claim(reminder.id, version, step.level, first, messages, case.code)

    # ---------------------------------------------------------------------------------------
    # Deliver and finish

    def _deliver(self, claims: list[_Claim], now: datetime | None, report: DispatchReport) -> None:
        """Deliver each claim outside any transaction, then finish them all in one."""
        delivered: list[tuple[_Claim, Delivery, datetime]] = []
        for claim in claims:
            if claim.messages:
                results = [self._notifier.deliver(message) for message in claim.messages]
            else:
                results = [Delivery.failed("no_target")]
            delivered.append((claim, _combined(results), now or self._clock.now()))
        ids = [claim.reminder_id for claim in claims]
        with self._sessions.begin() as session:
            # SKIP LOCKED: holding the batch's rows, never wait for another one (a record
            # resolving its case's reminders locks rows too): no lock cycle, no deadlock.
            locked = select(_R).where(_R.id.in_(ids)).with_for_update(skip_locked=True)
            by_id = {row.id: row for row in session.scalars(locked)}
            for claim, outcome, at in delivered:
                if claim.reminder_id in by_id:
                    self._finish(session, by_id[claim.reminder_id], claim, outcome, at, report)
        for claim, outcome, at in delivered:
            if claim.reminder_id not in by_id:  # held by another transaction: wait for it alone
                with self._sessions.begin() as session:
                    one = select(_R).where(_R.id == claim.reminder_id).with_for_update()
                    self._finish(session, session.scalars(one).one(), claim, outcome, at, report)

    def _finish(
        self,
        session: Session,
        reminder: models.Reminder,
        claim: _Claim,
        outcome: Delivery,
        at: datetime,
        report: DispatchReport,
    ) -> None:
        """Record how ``claim``'s delivery went (the module docstring's step 3)."""
        if reminder.version != claim.version or reminder.state != State.SENDING:
            report.superseded += 1
            _audit(
                session,
                at,
                "reminder.superseded",
                claim.case_code,
                reminder.id,
                {"state": reminder.state, "level": claim.level, "outcome": outcome.outcome},
            )
            return
        late_s = max(int((at - reminder.due_at).total_seconds()), 0)
        if outcome.outcome is Outcome.SENT:
            self._finish_sent(session, reminder, claim, outcome, at, late_s)
            if claim.level == 0:
                report.sent += 1
            else:
                report.escalated += 1
            if claim.first:
                report.lateness.append(max(at - reminder.due_at, timedelta(0)))
        elif outcome.outcome is Outcome.RETRY:
            report.retried += 1
            wait = _retry_wait(outcome.retry_after, reminder.attempts)
            _set(session, reminder, at, wake_at=at + wait, last_error=outcome.error)
            _audit(
                session,
                at,
                "reminder.delivery_failed",
                claim.case_code,
                reminder.id,
                {
                    "error": outcome.error,
                    "transient": True,
                    "retry_in_s": wait.total_seconds(),
                    "level": claim.level,
                    "attempt": reminder.attempts,
                },
            )
        else:
            report.failed += 1
            step = policy.after_permanent_failure(claim.level)
            log.warning(
                "reminder %s: delivery failed permanently (%s) at level %s",
                reminder.id,
                outcome.error,
                claim.level,
            )
            if step.action is Action.ESCALATE:
                # Still owed a delivery, one level up, at once: the next round claims it.
                _set(
                    session,
                    reminder,
                    at,
                    level=step.level,
                    wake_at=at,
                    last_error=outcome.error,
                )
            else:
                _set(
                    session,
                    reminder,
                    at,
                    state=State.ESCALATED,
                    wake_at=None,
                    escalated_at=at,
                    last_error=outcome.error,
                )
            _audit(
                session,
                at,
                "reminder.delivery_failed",
                claim.case_code,
                reminder.id,
                {
                    "error": outcome.error,
                    "transient": False,
                    "level": claim.level,
                    "escalate_to": step.level if step.action is Action.ESCALATE else None,
                    "attempt": reminder.attempts,
                },
            )

    def _finish_sent(
        self,
        session: Session,
        reminder: models.Reminder,
        claim: _Claim,
        delivery: Delivery,
        at: datetime,
        late_s: int,
    ) -> None:
        values: dict[str, Any] = {"last_error": None}
        if claim.level == 0:
            values.update(state=State.SENT, sent_at=at)
            if delivery.channel is not None:
                values.update(slack_channel=delivery.channel, slack_ts=delivery.ts)
        else:
            values.update(state=State.ESCALATED, escalated_at=at)
        after = Facts(
            state=values["state"],
            level=claim.level,
            due_at=reminder.due_at,
            sent_at=values.get("sent_at", reminder.sent_at),
            snooze_count=reminder.snooze_count,
        )
        step = policy.next_step(after, self._protocol.escalation, at)
        # A step already owed (an overdue row just sent) is taken at once by the next round.
        values["wake_at"] = at if step.action is not Action.WAIT else step.wake_at
        _set(session, reminder, at, **values)
        _audit(
            session,
            at,
            "reminder.sent" if claim.level == 0 else "reminder.escalated",
            claim.case_code,
            reminder.id,
            {
                "level": claim.level,
                "late_s": late_s,
                "overdue": reminder.overdue,
                "attempt": reminder.attempts,
                "to": sorted({message.target.role.value for message in claim.messages}),
            },
        )


def targets(kind: str, recipient: str | None, level: int, contacts: Contacts) -> list[Target]:
    """Where a delivery at ``level`` goes (§0.1; D16 for the clinician re-review).

    Level 0: the recipient (a nurse's DM); with none, a clinician re-review goes to the on-call
    channel and a reassessment to the charge nurse. Level 1: the recipient again and the
    charge nurse. Level 2: the on-call channel. A target not configured is left out; with none
    left the delivery fails permanently (``no_target``) and escalates.
    """
    found: list[Target] = []
    if level == 0:
        if recipient is not None:
            found.append(Target("user", recipient, Role.RECIPIENT))
        elif kind == "refractory_review" and contacts.on_call_channel is not None:
            found.append(Target("channel", contacts.on_call_channel, Role.ON_CALL))
        elif contacts.charge_nurse is not None:
            found.append(Target("user", contacts.charge_nurse, Role.CHARGE_NURSE))
    elif level == 1:
        if recipient is not None:
            found.append(Target("user", recipient, Role.RECIPIENT))
        if contacts.charge_nurse is not None and contacts.charge_nurse != recipient:
            found.append(Target("user", contacts.charge_nurse, Role.CHARGE_NURSE))
    elif contacts.on_call_channel is not None:
        found.append(Target("channel", contacts.on_call_channel, Role.ON_CALL))
    return found


def _combined(results: Sequence[Delivery]) -> Delivery:
    """One outcome for a level's deliveries: a permanent failure wins, then a transient one."""
    for delivery in results:
        if delivery.outcome is Outcome.FAILED:
            return delivery
    transient = [d for d in results if d.outcome is Outcome.RETRY]
    if transient:
        waits = [d.retry_after for d in transient if d.retry_after is not None]
        return Delivery.retry(transient[0].error or "transient", max(waits) if waits else None)
    return results[0]


def _retry_wait(retry_after: float | None, attempts: int) -> timedelta:
    """``Retry-After`` when the server gave one, else a backoff growing with the attempts."""
    if retry_after is not None:
        return timedelta(seconds=max(retry_after, 0.0))
    return timedelta(seconds=RETRY_BACKOFF[min(max(attempts - 1, 0), len(RETRY_BACKOFF) - 1)])


def _facts(reminder: models.Reminder) -> Facts:
    return Facts(
        state=State(reminder.state),
        level=reminder.level,
        due_at=reminder.due_at,
        sent_at=reminder.sent_at,
        wake_at=reminder.wake_at,
        snooze_count=reminder.snooze_count,
    )


def _set(session: Session, reminder: models.Reminder, at: datetime, **values: Any) -> int | None:
    """Update ``reminder`` if its version is still the one read; the new version, or None."""
    version = reminder.version
    changed = session.execute(
        update(_R)
        .where(_R.id == reminder.id, _R.version == version)
        .values(**values, updated_at=at, version=version + 1)
        .returning(_R.version)
        .execution_options(synchronize_session=False)
    ).scalar()
    if changed is None:
        return None
    # Keep the loaded object in step without another query.
    for name, value in {**values, "updated_at": at, "version": changed}.items():
        set_committed_value(reminder, name, value)
    return int(changed)


def _audit(
    session: Session, at: datetime, action: str, code: str, reminder_id: int, detail: Any
) -> None:
    record_audit(
        session,
        at=at,
        actor=ACTOR,
        action=action,
        source=SOURCE,
        case_code=code,
        object_type="reminder",
        object_id=str(reminder_id),
        detail=detail,
    )


def _last_grades(
    session: Session, case_ids: Iterable[int]
) -> dict[int, tuple[int | None, int | None]]:
    """Each case's most recent recorded CRS and ICANS grades (for the message)."""
    ids = list(case_ids)
    if not ids:
        return {}
    latest = (
        select(models.Assessment.case_id, func.max(models.Assessment.assessed_at).label("at"))
        .where(models.Assessment.case_id.in_(ids))
        .group_by(models.Assessment.case_id)
        .subquery()
    )
    rows = session.execute(
        select(
            models.Assessment.case_id, models.Assessment.crs_grade, models.Assessment.icans_grade
        ).join(
            latest,
            and_(
                models.Assessment.case_id == latest.c.case_id,
                models.Assessment.assessed_at == latest.c.at,
            ),
        )
    ).all()
    return {case_id: (crs, icans) for case_id, crs, icans in rows}
