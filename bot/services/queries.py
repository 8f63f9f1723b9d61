"""Read-only use cases: a case's summary, the open reminders, the programme report (design §5).

Each function reads in the caller's session; :class:`bot.services.api.Services` opens the
transaction, checks the role and writes the audit event around it (``case.view``,
``report.view``, ``report.export``). The report is SQL aggregates over one row per case, not a
Python loop over assessments (design §10). Nothing here returns free-text notes.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Integer, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import case as when

from bot.db import models
from bot.services import cases as case_store
from bot.services.history import load_history
from bot.services.reminder_plan import REFRACTORY_REVIEW
from grading.guidance_types import CaseState
from grading.protocol import Protocol
from grading.state import derive_state

MAX_DUE: Final = 50  # a longer list is not read; the reply says how many more there are


@dataclass(frozen=True, slots=True)
class DrugGiven:
    """One drug given on a case: how many doses, how much in all, and when last."""

    drug: str
    doses: int
    total_mg: float
    last_at: datetime


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """A case at a glance: status, day, grades now and at worst, drugs given, refractory flags."""

    code: str
    product: str
    status: str
    outcome: str | None
    death_attributed_to: str | None
    state: CaseState
    drugs: tuple[DrugGiven, ...]


@dataclass(frozen=True, slots=True)
class DueReminder:
    """An open reminder (pending, snoozed, sent or escalated)."""

    code: str
    kind: str
    due_at: datetime
    state: str
    level: int
    recipient: str | None
    overdue: bool = False  # still not recorded overdue_after_min after due (migration 0004)
    snoozed_until: datetime | None = None  # a snoozed row's wake_at
    sent_at: datetime | None = None  # first delivery


@dataclass(frozen=True, slots=True)
class DueList:
    """Open reminders, soonest first, at most :data:`MAX_DUE`; ``more`` counts the rest."""

    reminders: tuple[DueReminder, ...]
    more: int


@dataclass(frozen=True, slots=True)
class ReportRow:
    """Counts for one product. A CRS or ICANS death counts as grade 5 (D12)."""

    product: str
    cases: int
    crs_any: int
    crs_3_plus: int
    icans_any: int
    icans_3_plus: int
    tocilizumab: int  # cases given at least one dose
    refractory: int  # cases ever flagged refractory (a refractory review was scheduled, D16)


@dataclass(frozen=True, slots=True)
class Report:
    """The programme report: one row per product, for cases infused in [start, end)."""

    rows: tuple[ReportRow, ...]
    start: datetime | None
    end: datetime | None
    product: str | None

    @property
    def cases(self) -> int:
        """All cases counted."""
        return sum(row.cases for row in self.rows)


def case_summary(session: Session, code: str, protocol: Protocol, now: datetime) -> CaseSummary:
    """The summary of one case at ``now`` (open or closed)."""
    case = case_store.get_case(session, code)
    state = derive_state(load_history(session, case), protocol, now)
    given: dict[str, list[Any]] = defaultdict(lambda: [0, 0.0, None])
    for dose in state.doses:
        entry = given[dose.drug.value]
        entry[0] += 1
        entry[1] += dose.dose_mg
        entry[2] = dose.at
    drugs = tuple(DrugGiven(drug, n, total, last) for drug, (n, total, last) in given.items())
    return CaseSummary(
        code=case.code,
        product=case.product,
        status=case.status,
        outcome=case.outcome,
        death_attributed_to=case.death_attributed_to,
        state=state,
        drugs=drugs,
    )


def due_reminders(
    session: Session, *, recipient: str | None = None, code: str | None = None
) -> DueList:
    """Open reminders for one recipient or one case (which must exist), soonest first."""
    statement = (
        select(models.Reminder, models.Case.code)
        .join(models.Case, models.Case.id == models.Reminder.case_id)
        .where(models.open_reminder())
    )
    if code is not None:
        case = case_store.get_case(session, code)
        statement = statement.where(models.Reminder.case_id == case.id)
    if recipient is not None:
        statement = statement.where(models.Reminder.recipient == recipient)
    rows = session.execute(
        statement.order_by(models.Reminder.due_at, models.Reminder.id).limit(MAX_DUE + 1)
    ).all()
    found = tuple(
        DueReminder(
            case_code,
            r.kind,
            r.due_at,
            r.state,
            r.level,
            r.recipient,
            overdue=r.overdue,
            snoozed_until=r.wake_at if r.state == "snoozed" else None,
            sent_at=r.sent_at,
        )
        for r, case_code in rows[:MAX_DUE]
    )
    more = 0
    if len(rows) > MAX_DUE:
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        more = total - MAX_DUE
    return DueList(found, more)


def programme_report(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    product: str | None = None,
) -> Report:
    """Counts per product of cases infused in [start, end): any and severe CRS and ICANS,
    tocilizumab use and refractory flags. An undetermined grade counts at its lower bound."""
    assessment = models.Assessment
    worst = (
        select(
            assessment.case_id.label("case_id"),
            func.max(func.coalesce(assessment.crs_grade, assessment.crs_low)).label("crs"),
            func.max(func.coalesce(assessment.icans_grade, assessment.icans_low)).label("icans"),
        )
        .group_by(assessment.case_id)
        .subquery()
    )
    tocilizumab = (
        select(models.Dose.case_id.label("case_id"))
        .where(models.Dose.drug == "tocilizumab")
        .group_by(models.Dose.case_id)
        .subquery()
    )
    refractory = (
        select(models.Reminder.case_id.label("case_id"))
        .where(models.Reminder.kind == REFRACTORY_REVIEW)
        .group_by(models.Reminder.case_id)
        .subquery()
    )
    case = models.Case

    def counted(condition: Any) -> Any:
        return func.coalesce(func.sum(when((condition, 1), else_=0)), 0).cast(Integer)

    crs_death = case.death_attributed_to == "crs"
    icans_death = case.death_attributed_to == "icans"
    statement = (
        select(
            case.product,
            func.count(case.id),
            counted(or_(worst.c.crs >= 1, crs_death)),
            counted(or_(worst.c.crs >= 3, crs_death)),
            counted(or_(worst.c.icans >= 1, icans_death)),
            counted(or_(worst.c.icans >= 3, icans_death)),
            counted(tocilizumab.c.case_id.is_not(None)),
            counted(refractory.c.case_id.is_not(None)),
        )
        .outerjoin(worst, worst.c.case_id == case.id)
        .outerjoin(tocilizumab, tocilizumab.c.case_id == case.id)
        .outerjoin(refractory, refractory.c.case_id == case.id)
        .group_by(case.product)
        .order_by(case.product)
    )
    if start is not None:
        statement = statement.where(case.infused_at >= start)
    if end is not None:
        statement = statement.where(case.infused_at < end)
    if product is not None:
        statement = statement.where(case.product == product.lower())
    rows = tuple(ReportRow(*row) for row in session.execute(statement).all())
    return Report(rows, start, end, product.lower() if product else None)


CSV_COLUMNS: Final = (
    "product",
    "cases",
    "crs_any",
    "crs_grade_3_plus",
    "icans_any",
    "icans_grade_3_plus",
    "tocilizumab_given",
    "refractory_flagged",
)


def report_csv(report: Report) -> str:
    """The report as CSV text, one row per product, with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        writer.writerow(
            (
                row.product,
                row.cases,
                row.crs_any,
                row.crs_3_plus,
                row.icans_any,
                row.icans_3_plus,
                row.tocilizumab,
                row.refractory,
            )
        )
    return out.getvalue()
