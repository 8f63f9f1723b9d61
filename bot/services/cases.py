"""Cases: register one under a pseudonymous code, find it, list them, close it with an outcome.

A case holds no identifier beyond its code: the code is random (``CT-7K4Q``) unless the site gives
its own label, which is checked so it cannot be an MRN, a date or a name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationError
from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.orm import Session

from bot.db import models
from bot.services.codes import new_case_code, validate_site_label
from bot.services.errors import CaseClosed, CaseNotFound
from grading.errors import FieldError, InputError

MAX_CODE_ATTEMPTS = 20


class Outcome(StrEnum):
    """How a case ended."""

    RECOVERED = "recovered"
    DISCHARGED = "discharged"
    TRANSFERRED = "transferred"
    DEATH = "death"


class Attribution(StrEnum):
    """The cause a death is attributed to; CRS or ICANS means grade 5 (D12)."""

    CRS = "crs"
    ICANS = "icans"
    OTHER = "other"


class NewCase(BaseModel):
    """What registering a case takes (design §5 ``/tox new``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str | None = None  # the site's own label; a random code when absent
    product: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9 ._-]+$")]
    infused_at: AwareDatetime
    weight_kg: Annotated[float, Field(gt=0, le=350)]
    age_years: Annotated[float, Field(ge=0, le=120)] | None = None
    developmental_delay: StrictBool | None = None
    baseline_capd: Annotated[int, Field(strict=True, ge=0, le=32)] | None = None
    unit: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    slack_channel: Annotated[str, Field(pattern=r"^[CDG][A-Z0-9]{2,30}$")] | None = None
    nurses: tuple[Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,20}$")], ...] = ()


_ACCEPTED = {
    "product": "a product name such as axi-cel, tisa-cel, cilta-cel (letters, digits, . _ -)",
    "infused_at": "an ISO date-time with an offset, e.g. 2026-11-20T09:00:00+00:00",
    "weight_kg": "a weight in kg above 0 up to 350",
    "age_years": "an age in years from 0 to 120",
    "baseline_capd": "a whole number from 0 to 32",
    "slack_channel": "a Slack channel id such as C0123ABC",
    "nurses": "Slack user ids such as U0123ABC",
}


def validate_new_case(data: dict[str, Any]) -> NewCase:
    """Validate registration input, naming each bad field, its value and what is accepted."""
    try:
        return NewCase.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            FieldError(
                str(error["loc"][0]) if error["loc"] else "case",
                str(error.get("input"))[:60],
                error["msg"],
                _ACCEPTED.get(str(error["loc"][0]) if error["loc"] else "", "see /tox help"),
            )
            for error in exc.errors(include_url=False)
        ) from None


def register_case(
    session: Session,
    new: NewCase,
    *,
    actor: str,
    at: datetime,
    code_source: Callable[[], str] = new_case_code,
) -> models.Case:
    """Add a case in the caller's transaction; a random code is retried until unused."""
    if new.code is not None:
        code = validate_site_label(new.code)
        if _find(session, code) is not None:
            raise InputError([FieldError("case", code, "is already in use", "a new label")])
    else:
        found = next(
            (
                c
                for c in (code_source() for _ in range(MAX_CODE_ATTEMPTS))
                if _find(session, c) is None
            ),
            None,
        )
        if found is None:  # pragma: no cover - 29^4 codes; only a broken source gets here
            raise RuntimeError("could not find an unused case code")
        code = found
    case = models.Case(
        code=code,
        product=new.product.lower(),
        infused_at=new.infused_at,
        weight_kg=new.weight_kg,
        age_years=new.age_years,
        developmental_delay=new.developmental_delay,
        baseline_capd=new.baseline_capd,
        unit=new.unit,
        slack_channel=new.slack_channel,
        nurses=list(new.nurses),
        status="active",
        created_by=actor,
        created_at=at,
    )
    session.add(case)
    session.flush()
    return case


def get_case(session: Session, code: str, *, for_update: bool = False) -> models.Case:
    """The case with this code (row-locked for the transaction on PostgreSQL when asked)."""
    statement = select(models.Case).where(models.Case.code == code.strip().upper())
    if for_update:
        statement = statement.with_for_update()
    case = session.scalars(statement).first()
    if case is None:
        raise CaseNotFound(code.strip().upper())
    return case


@dataclass(frozen=True, slots=True)
class LockedCase:
    """An active case as a write sees it; ``revision`` is the one the write commits it at.

    From :func:`active_case` it is locked for the transaction with the revision already bumped;
    from :func:`case_for_record` on PostgreSQL it is only read, and the record's one write
    statement bumps the revision only if nothing was written since.
    """

    id: int
    code: str
    revision: int
    nurses: tuple[str, ...]
    product: str
    infused_at: datetime
    weight_kg: float
    age_years: float | None
    developmental_delay: bool | None
    baseline_capd: int | None


_CASES: Final = cast(Table, models.Case.__table__)
_LOCK_FOR_WRITE: Final = (
    update(_CASES)
    .where(_CASES.c.code == bindparam("wanted"))
    .values(revision=_CASES.c.revision + 1)
    .returning(_CASES.c.status, *(_CASES.c[name] for name in LockedCase.__slots__))
)


_RECORD_COLUMNS: Final = (
    _CASES.c.status,
    *(
        (_CASES.c.revision + 1).label("revision") if name == "revision" else _CASES.c[name]
        for name in LockedCase.__slots__
    ),
)
"""A case as a record reads it (:func:`case_from_row`), with the revision it will commit at."""
_READ_FOR_RECORD: Final = select(*_RECORD_COLUMNS).where(_CASES.c.code == bindparam("wanted"))
_LOCK_FOR_RECORD: Final = _READ_FOR_RECORD.with_for_update()


def case_for_record(session: Session, code: str, *, locked: bool = False) -> LockedCase:
    """The active case an assessment is about to be recorded on, with the revision it will
    commit at.

    SQLite: :func:`active_case`, locked and bumped now (the transaction holds SQLite's one write
    lock anyway). PostgreSQL: read only, and no row lock is held while the assessment is graded;
    the record's write statement (:func:`bot.services.record_writes.write_record`) bumps the
    revision only if it is still the one read here, and otherwise writes nothing: another write
    came first, and the record is graded again on the history that write left, ``locked``: the
    row is locked for the transaction as it is read, so no write can come first.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return active_case(session, code)
    statement = _LOCK_FOR_RECORD if locked else _READ_FOR_RECORD
    return case_from_row(connection.execute(statement, _wanted(code)).first(), code)


def active_case(session: Session, code: str) -> LockedCase:
    """The case, locked for this transaction with its revision bumped; a closed one is refused.

    Every caller writes to the case, so one ``UPDATE ... RETURNING`` takes the row lock (writers
    to one case queue here, and each then reads the history the one before committed), marks the
    history as changed for every process's cached copy, and reads the row: one round trip.
    """
    return case_from_row(session.connection().execute(_LOCK_FOR_WRITE, _wanted(code)).first(), code)


def _wanted(code: str) -> dict[str, str]:
    return {"wanted": code.strip().upper()}


def case_from_row(row: Row[Any] | None, code: str) -> LockedCase:
    """The case a row holds (its ``status`` and :class:`LockedCase`'s columns), refused when
    there is none (no row, or an outer join's empty columns) or it is closed."""
    if row is None or row.id is None:
        raise CaseNotFound(code.strip().upper())
    if row.status != "active":
        raise CaseClosed(code.strip().upper())
    values = row._mapping
    fields = {name: values[name] for name in LockedCase.__slots__}
    fields["nurses"] = tuple(fields["nurses"] or ())
    fields["infused_at"] = fields["infused_at"].astimezone(UTC)  # driver SQL: the session's zone
    return LockedCase(**fields)


def registered_case(case: models.Case) -> LockedCase:
    """A case just registered (:func:`register_case`, flushed) as a write sees it."""
    return LockedCase(
        id=case.id,
        code=case.code,
        revision=case.revision,
        nurses=tuple(case.nurses or ()),
        product=case.product,
        infused_at=case.infused_at.astimezone(UTC),
        weight_kg=case.weight_kg,
        age_years=case.age_years,
        developmental_delay=case.developmental_delay,
        baseline_capd=case.baseline_capd,
    )


def list_cases(session: Session, *, status: str | None = None) -> list[models.Case]:
    """Cases by code, optionally only ``active`` or ``closed`` ones."""
    statement = select(models.Case).order_by(models.Case.created_at, models.Case.code)
    if status is not None:
        statement = statement.where(models.Case.status == status)
    return list(session.scalars(statement))


def close_case(
    session: Session,
    code: str,
    *,
    outcome: str,
    attributed_to: str | None,
    at: datetime,
) -> models.Case:
    """Close an active case with its outcome (a death from CRS or ICANS is grade 5, D12)."""
    try:
        chosen = Outcome(outcome.lower())
    except ValueError:
        raise InputError(
            [FieldError("outcome", outcome, "not an outcome", ", ".join(o.value for o in Outcome))]
        ) from None
    attribution: Attribution | None = None
    if chosen is Outcome.DEATH:
        try:
            attribution = Attribution((attributed_to or "").lower())
        except ValueError:
            raise InputError(
                [
                    FieldError(
                        "cause",
                        attributed_to or "",
                        "a death needs the cause it is attributed to",
                        "cause=crs, cause=icans or cause=other",
                    )
                ]
            ) from None
    elif attributed_to:
        raise InputError(
            [FieldError("cause", attributed_to, "only a death has a cause", "outcome=death")]
        )
    locked = active_case(session, code)
    case = session.get_one(models.Case, locked.id, populate_existing=True)
    case.status = "closed"
    case.outcome = chosen.value
    case.death_attributed_to = attribution.value if attribution else None
    case.closed_at = at
    session.execute(
        update(models.Reminder)
        .where(models.Reminder.case_id == case.id, models.open_reminder())
        .values(state="cancelled", updated_at=at, version=models.Reminder.version + 1)
    )
    return case


def grade_5(case: models.Case) -> dict[str, int]:
    """D12: grade 5 for the toxicity a death was attributed to, for summaries."""
    if case.outcome == Outcome.DEATH and case.death_attributed_to in ("crs", "icans"):
        return {case.death_attributed_to: 5}
    return {}


def _find(session: Session, code: str) -> models.Case | None:
    return session.scalars(select(models.Case).where(models.Case.code == code)).first()
