"""Load a case's stored history into the guidance engine's values, fast.

Rows were validated when they were written, so they are rebuilt with ``model_construct`` (no
second validation): loading a long case is the hot path of every reply. Enum fields are turned
back into their enums so the grading core sees exactly what validation would have produced.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final, TypeVar

import orjson
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.db import models
from bot.services.cases import LockedCase
from grading.assessment import (
    AttributableFinding,
    CerebralEdema,
    Consciousness,
    IceItems,
    Oxygen,
    OxygenDevice,
    Seizure,
)
from grading.case import (
    Analyte,
    CaseHistory,
    Dose,
    Drug,
    Lab,
    Patient,
    Route,
    StatedGrades,
    TimedAssessment,
)

_M = TypeVar("_M", bound=BaseModel)

# Stored enum values back to their members: a dict lookup, not an Enum call per field per row.
_ENUMS: Final[dict[str, dict[Any, Any]]] = {
    name: {member.value: member for member in enum}
    for name, enum in (
        ("consciousness", Consciousness),
        ("seizure", Seizure),
        ("cerebral_edema", CerebralEdema),
    )
}
_DEVICES: Final = {device.value: device for device in OxygenDevice}
_FINDINGS: Final = {finding.value: finding for finding in AttributableFinding}


def patient_of(case: models.Case | LockedCase) -> Patient:
    """The patient facts the engine needs; nothing that identifies anyone."""
    return Patient(
        age_years=case.age_years,
        weight_kg=case.weight_kg,
        product=case.product,
        infused_at=case.infused_at,
        baseline_capd=case.baseline_capd,
        developmental_delay=case.developmental_delay,
    )


def stored_assessment(
    at: datetime, inputs: dict[str, Any], stated: Mapping[str, Any] | None
) -> TimedAssessment:
    """A stored assessment as the engine's value, without validating it again.

    ``inputs`` is the stored JSON as just decoded, and becomes the model's fields: it is taken,
    not copied (the hot path of loading a long case)."""
    data = inputs
    oxygen = data.get("oxygen")
    if oxygen is not None:
        data["oxygen"] = _oxygen(oxygen["device"], oxygen.get("flow_l_min"))
    items = data.get("ice_items")
    if items is not None:
        data["ice_items"] = _construct(IceItems, _ICE_DEFAULTS, dict(items))
    for name, members in _ENUMS.items():
        if name in data:
            data[name] = members[data[name]]
    if "attributed_elsewhere" in data:
        data["attributed_elsewhere"] = frozenset(
            _FINDINGS[value] for value in data["attributed_elsewhere"]
        )
    data["at"] = at
    data["stated"] = StatedGrades.model_construct(**stated) if stated else None
    return _construct(TimedAssessment, _ASSESSMENT_DEFAULTS, data)


@lru_cache(maxsize=256)
def _oxygen(device: str, flow_l_min: float | None) -> Oxygen:
    """One frozen :class:`Oxygen` per (device, flow): a course repeats a few of them, and a
    shared immutable value is the same to the engine as a copy of it."""
    return _construct(
        Oxygen, _OXYGEN_DEFAULTS, {"device": _DEVICES[device], "flow_l_min": flow_l_min}
    )


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in model.model_fields.items()
        if not field.is_required()
    }


_ASSESSMENT_DEFAULTS: Final = _defaults(TimedAssessment)
_OXYGEN_DEFAULTS: Final = _defaults(Oxygen)
_ICE_DEFAULTS: Final = _defaults(IceItems)


def _construct(model: type[_M], defaults: dict[str, Any], data: dict[str, Any]) -> _M:
    """``model_construct`` for trusted rows, without its per-field Python loop (the hot path)."""
    instance = _new(model)
    fields = defaults.copy()
    fields.update(data)
    _set(instance, "__dict__", fields)
    _set(instance, "__pydantic_fields_set__", set(data))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


_new: Final = object.__new__
_set: Final = object.__setattr__


# A case's assessments as ONE JSON array of [assessed_at, id, inputs, stated]: one value to
# fetch and one orjson decoding, not a row, a tuple and two decodings per assessment (on a long
# case the per-row work cost more than the rest of loading it). PostgreSQL orders the aggregate;
# SQLite 3.40 cannot be asked to, so its rows are sorted after (its times are UTC text of one
# fixed width, which sorts as the times do).
_ASSESSMENTS: Final = {
    "postgresql": text(
        "SELECT json_agg(json_build_array(assessed_at, id, inputs, stated) "
        "ORDER BY assessed_at, id)::text FROM assessment WHERE case_id = :case_id"
    ),
    # Stored JSON is spliced in as it is (valid JSON, written by json.dumps), not parsed again.
    "sqlite": text(
        "SELECT '[' || coalesce(group_concat('[' || json_quote(assessed_at || '+00:00') || ','"
        " || id || ','"
        " || inputs || ',' || coalesce(stated, 'null') || ']'), '') || ']' "
        "FROM assessment WHERE case_id = :case_id"
    ),
}
_BY_TIME_THEN_ID: Final = itemgetter(0, 1)

# Doses and labs in one statement (one round trip, no ORM row processing): a dose row is
# ("dose", given_at, drug, dose_mg, route), a lab row ("lab", taken_at, analyte, value, unit).
# Their numbers stay the database's own floats, never printed to JSON and read back.
_DOSES_AND_LABS: Final = text(
    "SELECT 'dose' AS kind, given_at AS at, drug AS name, dose_mg AS amount, route AS extra, "
    "id FROM dose WHERE case_id = :case_id "
    "UNION ALL "
    "SELECT 'lab', taken_at, analyte, value, unit, id FROM lab WHERE case_id = :case_id "
    "ORDER BY at, id"
)


def _moment(value: str) -> datetime:
    """A stored time as aware UTC, from the ISO text the JSON aggregate gives (SQLite's UTC
    text, given its zone in the query; PostgreSQL's in the session's zone) or SQLite's row text
    (no zone: UTC, as :class:`bot.db.models.UtcDateTime` stores it)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def load_history(session: Session, case: models.Case | LockedCase) -> CaseHistory:
    """Everything recorded for a case, in time order, as the engine's values.

    Only the columns the engine reads are selected: the stored results (large JSON) are not.
    Assessments come as one JSON value (``_ASSESSMENTS``), doses and labs as the rows of one
    statement (``_DOSES_AND_LABS``), with none of SQLAlchemy's per-row type processing (SQLite's
    datetime regex, the JSON wrappers); times normalised by _moment.
    """
    dialect = session.get_bind().dialect.name
    found = session.execute(_ASSESSMENTS[dialect], {"case_id": case.id}).scalar()
    given = session.execute(_DOSES_AND_LABS, {"case_id": case.id}).all()
    with _collection_paused():
        assessments = orjson.loads(found) if found else []
        if dialect == "sqlite":
            assessments.sort(key=_BY_TIME_THEN_ID)
        built = tuple(
            stored_assessment(_moment(at), inputs, stated) for at, _, inputs, stated in assessments
        )
    doses: list[Dose] = []
    labs: list[Lab] = []
    for kind, at, name, amount, extra, _ in given:
        moment = _moment(at) if isinstance(at, str) else at.astimezone(UTC)
        if kind == "dose":
            route = Route(extra) if extra else None
            doses.append(
                Dose.model_construct(at=moment, drug=Drug(name), dose_mg=amount, route=route)
            )
        else:
            labs.append(
                Lab.model_construct(at=moment, analyte=Analyte(name), value=amount, unit=extra)
            )
    return CaseHistory.model_construct(
        patient=patient_of(case), assessments=built, doses=tuple(doses), labs=tuple(labs)
    )


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while a long history is built: every decoded row and
    model is a new container that lives on, so the collector's passes over them (several per
    thousand assessments) find nothing to free. The collector is the process's, shared by its
    threads: one that finds it already paused leaves it to whoever paused it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def assessment_inputs(assessment: TimedAssessment) -> dict[str, Any]:
    """What is stored of an assessment's inputs: design §4 fields, as JSON (no time, no note).

    Fields at their defaults (not assessed, or a finding absent) are left out: they read back
    as the same defaults, and a long case loads faster for the shorter text.
    """
    return assessment.model_dump(
        mode="json", exclude_none=True, exclude_defaults=True, exclude={"at", "stated"}
    )
