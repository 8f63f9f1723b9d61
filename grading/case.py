"""A case's history as the guidance engine reads it: patient facts, timed assessments, doses and
labs (issue 3; `toxbot advise` input).

All times are timezone-aware; a naive time is refused, because a reassessment due "at 14:00"
means nothing without a zone. Nothing here reads a clock: ``now`` is always passed in.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationError

from grading.assessment import ACCEPTED, REFUSED_FIELD_HINTS, Assessment
from grading.errors import FieldError, InputError

_Strict = ConfigDict(extra="forbid", frozen=True)


class Drug(StrEnum):
    """Drugs the guidance engine counts (clinical reference §3-4)."""

    TOCILIZUMAB = "tocilizumab"
    SILTUXIMAB = "siltuximab"
    ANAKINRA = "anakinra"
    DEXAMETHASONE = "dexamethasone"
    METHYLPREDNISOLONE = "methylprednisolone"
    PREDNISONE = "prednisone"
    HYDROCORTISONE = "hydrocortisone"
    ACETAMINOPHEN = "acetaminophen"
    IBUPROFEN = "ibuprofen"
    RUXOLITINIB = "ruxolitinib"
    CYCLOPHOSPHAMIDE = "cyclophosphamide"
    EMAPALUMAB = "emapalumab"
    ETOPOSIDE = "etoposide"
    ANTITHYMOCYTE_GLOBULIN = "antithymocyte_globulin"
    METHOTREXATE = "methotrexate"
    CYTARABINE = "cytarabine"
    LEVETIRACETAM = "levetiracetam"


CORTICOSTEROIDS: Final = frozenset(
    {Drug.DEXAMETHASONE, Drug.METHYLPREDNISOLONE, Drug.PREDNISONE, Drug.HYDROCORTISONE}
)
ANTIPYRETICS: Final = frozenset({Drug.ACETAMINOPHEN, Drug.IBUPROFEN})
ANTI_CYTOKINE: Final = frozenset(
    {Drug.TOCILIZUMAB, Drug.SILTUXIMAB, Drug.ANAKINRA, Drug.RUXOLITINIB, Drug.EMAPALUMAB}
)
# Antipyretic or anti-cytokine therapy (corticosteroids included) after CRS onset: the fever rule
# no longer applies (R-CRS-2, D13).
CRS_TREATMENTS: Final = ANTIPYRETICS | ANTI_CYTOKINE | CORTICOSTEROIDS


class Route(StrEnum):
    """How a dose was given."""

    IV = "iv"
    SC = "sc"
    PO = "po"
    IT = "it"


class Analyte(StrEnum):
    """Labs the engine reads (clinical reference §4.3, §5.1)."""

    FERRITIN = "ferritin"
    CRP = "crp"
    FIBRINOGEN = "fibrinogen"
    ALT = "alt"
    AST = "ast"
    BILIRUBIN = "bilirubin"
    PLATELETS = "platelets"
    ANC = "anc"
    LDH = "ldh"
    TRIGLYCERIDES = "triglycerides"
    HEMOGLOBIN = "hemoglobin"
    IL6 = "il6"


class Patient(BaseModel):
    """Facts about the patient that grading and guidance need. No identifiers, by design."""

    model_config = _Strict

    age_years: Annotated[float, Field(ge=0, le=120)] | None = None
    weight_kg: Annotated[float, Field(gt=0, le=350)] | None = None
    product: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    infused_at: AwareDatetime | None = None
    baseline_capd: Annotated[int, Field(strict=True, ge=0, le=32)] | None = None
    developmental_delay: StrictBool | None = None


class StatedGrades(BaseModel):
    """The grades the clinician stated with an assessment; a mismatch is flagged."""

    model_config = _Strict

    crs: Annotated[int, Field(strict=True, ge=0, le=4)] | None = None
    icans: Annotated[int, Field(strict=True, ge=0, le=4)] | None = None


class TimedAssessment(Assessment):
    """An assessment with the time it was made (and any grades the clinician stated)."""

    at: AwareDatetime
    stated: StatedGrades | None = None


class Dose(BaseModel):
    """A dose that was given. Stored even when it broke a limit; the ledger flags it (D17)."""

    model_config = _Strict

    at: AwareDatetime
    drug: Drug
    dose_mg: Annotated[float, Field(gt=0, le=20000)]
    route: Route | None = None


class Lab(BaseModel):
    """One lab result."""

    model_config = _Strict

    at: AwareDatetime
    analyte: Analyte
    value: float
    unit: Annotated[str, Field(min_length=1, max_length=20)]


class CaseHistory(BaseModel):
    """Everything recorded for a case, in any order; the engine sorts by time."""

    model_config = _Strict

    patient: Patient = Patient()
    assessments: tuple[TimedAssessment, ...] = ()
    doses: tuple[Dose, ...] = ()
    labs: tuple[Lab, ...] = ()


def hours_between(start: datetime, end: datetime) -> float:
    """Hours from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    return (end - start).total_seconds() / 3600


class AdviseRequest(BaseModel):
    """What `toxbot advise` reads: a case's history and the moment to advise at."""

    model_config = _Strict

    patient: Patient = Patient()
    assessments: tuple[TimedAssessment, ...] = ()
    doses: tuple[Dose, ...] = ()
    labs: tuple[Lab, ...] = ()
    now: AwareDatetime

    @property
    def history(self) -> CaseHistory:
        """The request's case history."""
        return CaseHistory(
            patient=self.patient, assessments=self.assessments, doses=self.doses, labs=self.labs
        )


def advise_request_from_json(text: str | bytes) -> AdviseRequest:
    """Parse and validate `toxbot advise` input; errors name the path, e.g. ``doses[1].drug``."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(
            [FieldError("input", "", f"not valid JSON ({exc})", "one JSON object")]
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            [FieldError("input", type(data).__name__, "expected a JSON object", "one JSON object")]
        )
    try:
        return AdviseRequest.model_validate(data)
    except ValidationError as exc:
        raise InputError(field_errors(exc)) from None


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic errors as field errors; the path names list items, e.g. ``doses[1].drug``."""
    out: list[FieldError] = []
    for error in exc.errors(include_url=False):
        path = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        ).lstrip(".")
        leaf = next((p for p in reversed(error["loc"]) if isinstance(p, str)), "")
        value = error.get("input")
        shown = json.dumps(value)[:60] if isinstance(value, dict | list) else str(value)[:60]
        if error["type"] == "extra_forbidden":
            problem = REFUSED_FIELD_HINTS.get(leaf.lower(), "unknown field")
            out.append(FieldError(path, shown, problem, "the fields of design §4 and issue 3"))
        elif error["type"] == "timezone_aware":
            out.append(
                FieldError(
                    path,
                    shown,
                    "a time without a time zone is ambiguous",
                    "an ISO date-time with an offset, e.g. 2026-11-23T14:30:00+00:00",
                )
            )
        else:
            accepted = ACCEPTED.get(leaf, _ENUM_ACCEPTS.get(leaf, "see issue 3's input format"))
            out.append(FieldError(path, shown, error["msg"], accepted))
    return out


_ENUM_ACCEPTS: Final = {
    "drug": ", ".join(d.value for d in Drug),
    "route": ", ".join(r.value for r in Route),
    "analyte": ", ".join(a.value for a in Analyte),
    "at": "an ISO date-time with an offset, e.g. 2026-11-23T14:30:00+00:00",
    "now": "an ISO date-time with an offset, e.g. 2026-11-23T14:30:00+00:00",
    "dose_mg": "a number of mg above 0",
}
