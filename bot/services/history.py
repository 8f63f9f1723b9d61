"""Load a case's stored history into the guidance engine's values, fast.

Rows were validated when they were written, so they are rebuilt with ``model_construct`` (no
second validation): loading a long case is the hot path of every reply. Enum fields are turned
back into their enums so the grading core sees exactly what validation would have produced.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import models
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

_ENUMS: Final[dict[str, type[Any]]] = {
    "consciousness": Consciousness,
    "seizure": Seizure,
    "cerebral_edema": CerebralEdema,
}


def patient_of(case: models.Case) -> Patient:
    """The patient facts the engine needs; nothing that identifies anyone."""
    return Patient(
        age_years=case.age_years,
        weight_kg=case.weight_kg,
        product=case.product,
        infused_at=case.infused_at,
        baseline_capd=case.baseline_capd,
        developmental_delay=case.developmental_delay,
    )


def stored_assessment(row: models.Assessment) -> TimedAssessment:
    """A stored assessment as the engine's value, without validating it again."""
    data: dict[str, Any] = dict(row.inputs)
    oxygen = data.get("oxygen")
    if oxygen is not None:
        data["oxygen"] = Oxygen.model_construct(
            device=OxygenDevice(oxygen["device"]), flow_l_min=oxygen.get("flow_l_min")
        )
    items = data.get("ice_items")
    if items is not None:
        data["ice_items"] = IceItems.model_construct(**items)
    for name, enum in _ENUMS.items():
        if name in data:
            data[name] = enum(data[name])
    if "attributed_elsewhere" in data:
        data["attributed_elsewhere"] = frozenset(
            AttributableFinding(value) for value in data["attributed_elsewhere"]
        )
    stated = StatedGrades.model_construct(**row.stated) if row.stated else None
    return TimedAssessment.model_construct(at=row.assessed_at, stated=stated, **data)


def load_history(session: Session, case: models.Case) -> CaseHistory:
    """Everything recorded for a case, in time order, as the engine's values."""
    assessments = session.scalars(
        select(models.Assessment)
        .where(models.Assessment.case_id == case.id)
        .order_by(models.Assessment.assessed_at, models.Assessment.id)
    )
    doses = session.scalars(
        select(models.Dose).where(models.Dose.case_id == case.id).order_by(models.Dose.given_at)
    )
    labs = session.scalars(
        select(models.Lab).where(models.Lab.case_id == case.id).order_by(models.Lab.taken_at)
    )
    return CaseHistory.model_construct(
        patient=patient_of(case),
        assessments=tuple(stored_assessment(row) for row in assessments),
        doses=tuple(
            Dose.model_construct(
                at=row.given_at,
                drug=Drug(row.drug),
                dose_mg=row.dose_mg,
                route=Route(row.route) if row.route else None,
            )
            for row in doses
        ),
        labs=tuple(
            Lab.model_construct(
                at=row.taken_at, analyte=Analyte(row.analyte), value=row.value, unit=row.unit
            )
            for row in labs
        ),
    )


def assessment_inputs(assessment: TimedAssessment) -> dict[str, Any]:
    """What is stored of an assessment's inputs: design §4 fields, as JSON (no time, no note)."""
    return assessment.model_dump(mode="json", exclude_none=True, exclude={"at", "stated"})
