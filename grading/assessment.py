"""The assessment the grading core reads: design §4's fields, validated.

Every field is optional because an absent field means *not assessed*, never normal or 0
(clinical reference D10). Values outside what a bedside measurement can be are refused, and
contradictory combinations are refused with both fields named, so nothing implausible is graded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from grading.errors import FieldError, InputError


class OxygenDevice(StrEnum):
    """Oxygen delivery, in ASTCT's terms (clinical reference §1.2, D1)."""

    ROOM_AIR = "room_air"
    NASAL_CANNULA = "nasal_cannula"
    HIGH_FLOW_NASAL_CANNULA = "high_flow_nasal_cannula"
    BLOW_BY = "blow_by"
    FACE_MASK = "face_mask"
    NONREBREATHER = "nonrebreather"
    VENTURI = "venturi"
    CPAP = "cpap"
    BIPAP = "bipap"
    MECHANICAL_VENTILATION = "mechanical_ventilation"


class Consciousness(StrEnum):
    """Level of consciousness, the ASTCT ICANS rows (clinical reference §2.3)."""

    ALERT = "alert"
    AWAKENS_SPONTANEOUSLY = "awakens_spontaneously"
    AWAKENS_TO_VOICE = "awakens_to_voice"
    AWAKENS_TO_TACTILE = "awakens_to_tactile"
    UNAROUSABLE = "unarousable"


class Seizure(StrEnum):
    """Seizure findings, the ASTCT ICANS rows (clinical reference §2.3)."""

    NONE = "none"
    RAPID_RESOLUTION = "rapid_resolution"
    PROLONGED_OR_REPETITIVE = "prolonged_or_repetitive"


class CerebralEdema(StrEnum):
    """Cerebral edema on neuroimaging (clinical reference §2.3)."""

    NONE = "none"
    FOCAL = "focal"
    DIFFUSE = "diffuse"


class AttributableFinding(StrEnum):
    """Findings a clinician may attribute to another cause, excluding them from grading (D9)."""

    FEVER = "fever"
    HYPOTENSION = "hypotension"
    HYPOXIA = "hypoxia"
    ICE = "ice"
    CAPD = "capd"
    CONSCIOUSNESS = "consciousness"
    SEIZURE = "seizure"
    MOTOR = "motor"
    EDEMA = "edema"


TEMPERATURE_RANGE_C: Final = (30.0, 45.0)
FLOW_RANGE_L_MIN: Final = (0.0, 80.0)
FLOW_DEVICES: Final = frozenset({OxygenDevice.NASAL_CANNULA, OxygenDevice.HIGH_FLOW_NASAL_CANNULA})

_Strict = ConfigDict(extra="forbid", frozen=True)


class Oxygen(BaseModel):
    """Oxygen support: the device, and the flow where one was given."""

    model_config = _Strict

    device: OxygenDevice
    flow_l_min: Annotated[float, Field(ge=FLOW_RANGE_L_MIN[0], le=FLOW_RANGE_L_MIN[1])] | None = (
        None
    )

    @model_validator(mode="after")
    def _flow_fits_device(self) -> Oxygen:
        if self.device is OxygenDevice.ROOM_AIR and self.flow_l_min:
            raise InputError(
                [
                    FieldError(
                        "oxygen.flow_l_min",
                        _shown(self.flow_l_min),
                        "room air has no oxygen flow",
                        "no flow with room_air, or a device such as nasal_cannula",
                    )
                ]
            )
        if self.device in FLOW_DEVICES and self.flow_l_min == 0:
            raise InputError(
                [
                    FieldError(
                        "oxygen.flow_l_min",
                        "0",
                        "a cannula at 0 L/min gives no oxygen",
                        "a flow above 0 up to 80 L/min, or device room_air",
                    )
                ]
            )
        return self


class IceItems(BaseModel):
    """The ICE score item by item (clinical reference §2.2)."""

    model_config = _Strict

    orientation: Annotated[int, Field(strict=True, ge=0, le=4)]
    naming: Annotated[int, Field(strict=True, ge=0, le=3)]
    commands: Annotated[int, Field(strict=True, ge=0, le=1)]
    writing: Annotated[int, Field(strict=True, ge=0, le=1)]
    attention: Annotated[int, Field(strict=True, ge=0, le=1)]

    @property
    def total(self) -> int:
        """The ICE score, 0-10."""
        return self.orientation + self.naming + self.commands + self.writing + self.attention


_Score = Annotated[int, Field(strict=True, ge=0)]


class Assessment(BaseModel):
    """One bedside assessment. Absent fields are not assessed (D10).

    >>> Assessment(temperature_c=39.2, oxygen={"device": "nasal_cannula", "flow_l_min": 4})
    ... # doctest: +SKIP
    """

    model_config = _Strict

    # Patient facts the rules need (usually filled in from the case record).
    age_years: Annotated[float, Field(ge=0, le=120)] | None = None
    developmental_delay: StrictBool | None = None
    weight_kg: Annotated[float, Field(gt=0, le=350)] | None = None
    days_since_infusion: Annotated[float, Field(ge=0, le=3650)] | None = None
    # CRS.
    temperature_c: (
        Annotated[float, Field(ge=TEMPERATURE_RANGE_C[0], le=TEMPERATURE_RANGE_C[1])] | None
    ) = None
    prior_crs_treatment: StrictBool | None = None
    hypotension: StrictBool | None = None
    vasopressors: Annotated[int, Field(strict=True, ge=0, le=10)] | None = None
    vasopressin: StrictBool | None = None
    oxygen: Oxygen | None = None
    # ICANS.
    ice: Annotated[int, Field(strict=True, ge=0, le=10)] | None = None
    ice_items: IceItems | None = None
    capd: Annotated[_Score, Field(le=32)] | None = None
    baseline_capd: Annotated[_Score, Field(le=32)] | None = None
    consciousness: Consciousness | None = None
    global_aphasia: StrictBool | None = None
    seizure: Seizure | None = None
    motor_weakness: StrictBool | None = None
    cerebral_edema: CerebralEdema | None = None
    papilledema: StrictBool | None = None
    cn6_palsy: StrictBool | None = None
    posturing: StrictBool | None = None
    cushings_triad: StrictBool | None = None
    # Recorded and shown, never graded (D11).
    tremor_or_myoclonus: StrictBool | None = None
    intracranial_hemorrhage: StrictBool | None = None
    attributed_elsewhere: frozenset[AttributableFinding] = frozenset()

    @property
    def ice_total(self) -> int | None:
        """The ICE score from ``ice`` or from ``ice_items``; ``None`` when not assessed."""
        if self.ice is not None:
            return self.ice
        return self.ice_items.total if self.ice_items is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> Assessment:
        errors = _contradictions(self)
        if errors:
            raise InputError(errors)
        return self


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _contradictions(a: Assessment) -> list[FieldError]:
    """Combinations no single bedside assessment can have; both fields are named."""
    errors: list[FieldError] = []
    if a.ice is not None and a.ice_items is not None and a.ice != a.ice_items.total:
        errors.append(
            FieldError(
                "ice",
                str(a.ice),
                f"differs from the items given, which add up to {a.ice_items.total}",
                "either ice or ice_items, or both agreeing",
            )
        )
    if a.ice_total is not None and a.capd is not None:
        errors.append(
            FieldError(
                "capd",
                str(a.capd),
                "ICE and CAPD were both given; one assessment uses one tool (D6)",
                "ice (age 12 and over) or capd (under 12, or with developmental delay)",
            )
        )
    pressors_given = bool(a.vasopressors) or a.vasopressin is True
    if a.hypotension is False and pressors_given:
        errors.append(
            FieldError(
                "hypotension",
                "false",
                "vasopressors are recorded, which means hypotension needing them (R-CRS-7)",
                "hypotension true, or no vasopressors",
            )
        )
    if a.consciousness is Consciousness.UNAROUSABLE:
        if a.ice_total:
            errors.append(
                FieldError(
                    "ice",
                    str(a.ice_total),
                    "an unarousable patient cannot perform ICE (R-ICANS-2)",
                    "ice 0 or no ICE with consciousness unarousable",
                )
            )
        if a.capd is not None:
            errors.append(
                FieldError(
                    "capd",
                    str(a.capd),
                    "CAPD cannot be performed in an unarousable patient (D7)",
                    "no capd with consciousness unarousable",
                )
            )
    return errors


# What each field accepts, for error messages that tell the user what would work.
ACCEPTED: Final[Mapping[str, str]] = {
    "age_years": "a number of years from 0 to 120",
    "developmental_delay": "true or false",
    "weight_kg": "a number of kg above 0 up to 350",
    "days_since_infusion": "a number of days from 0 to 3650",
    "temperature_c": "a number of °C from 30 to 45",
    "prior_crs_treatment": "true or false",
    "hypotension": "true or false",
    "vasopressors": "a whole number of vasopressors from 0 to 10, not counting vasopressin",
    "vasopressin": "true or false",
    "oxygen": "an object with device and optional flow_l_min",
    "oxygen.device": ", ".join(device.value for device in OxygenDevice),
    "oxygen.flow_l_min": "a number of L/min from 0 to 80",
    "ice": "a whole number from 0 to 10",
    "ice_items": "an object with orientation 0-4, naming 0-3, commands 0-1, writing 0-1, "
    "attention 0-1",
    "ice_items.orientation": "a whole number from 0 to 4",
    "ice_items.naming": "a whole number from 0 to 3",
    "ice_items.commands": "0 or 1",
    "ice_items.writing": "0 or 1",
    "ice_items.attention": "0 or 1",
    "capd": "a whole number from 0 to 32",
    "baseline_capd": "a whole number from 0 to 32",
    "consciousness": ", ".join(level.value for level in Consciousness),
    "global_aphasia": "true or false",
    "seizure": ", ".join(seizure.value for seizure in Seizure),
    "motor_weakness": "true or false",
    "cerebral_edema": ", ".join(edema.value for edema in CerebralEdema),
    "papilledema": "true or false",
    "cn6_palsy": "true or false",
    "posturing": "true or false",
    "cushings_triad": "true or false",
    "tremor_or_myoclonus": "true or false",
    "intracranial_hemorrhage": "true or false",
    "attributed_elsewhere": "a list of " + ", ".join(f.value for f in AttributableFinding),
}

# Tempting fields the core refuses, and why (clinical reference R-CRS-6..8).
REFUSED_FIELD_HINTS: Final[Mapping[str, str]] = {
    "sbp": "hypotension is graded by the treatment it needs, not a number (R-CRS-7): use "
    "hypotension (bp=low) or vasopressors (pressors=N)",
    "map": "hypotension is graded by the treatment it needs, not a number (R-CRS-7): use "
    "hypotension (bp=low) or vasopressors (pressors=N)",
    "bp_mmhg": "hypotension is graded by the treatment it needs, not a number (R-CRS-7): use "
    "hypotension (bp=low) or vasopressors (pressors=N)",
    "spo2": "hypoxia is graded by the oxygen support needed to correct it (R-CRS-4, R-CRS-8): "
    "use oxygen (o2=...)",
    "fio2": "ASTCT grades oxygen by device and flow, not FiO2 (R-CRS-4): use oxygen (o2=...)",
    "organ_toxicity": "organ toxicities are graded with CTCAE and never change the CRS grade "
    "(R-CRS-6); record labs separately",
    "grade": "grades are computed, not entered; state your own grade with stated=crs2,icans1 to "
    "have a mismatch flagged",
}

FIELD_NAMES: Final = frozenset(Assessment.model_fields)


def assessment_from_mapping(data: Mapping[str, Any]) -> Assessment:
    """Validate a decoded JSON object as an :class:`Assessment`.

    Raises :class:`InputError` naming every bad field, its value and what is accepted.
    """
    try:
        return Assessment.model_validate(data)
    except ValidationError as exc:
        raise InputError(_field_errors(exc)) from None


def assessment_from_json(text: str | bytes) -> Assessment:
    """Parse and validate a JSON document as an :class:`Assessment` (design §4)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(
            [
                FieldError(
                    "input",
                    "",
                    f"not valid JSON ({exc})",
                    "one JSON object with design §4's fields",
                )
            ]
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            [
                FieldError(
                    "input",
                    type(data).__name__,
                    "expected a JSON object",
                    "one JSON object with design §4's fields",
                )
            ]
        )
    return assessment_from_mapping(data)


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"] if not isinstance(part, int))
        field = field or "input"
        value = error.get("input")
        if error["type"] == "extra_forbidden":
            leaf = field.rsplit(".", 1)[-1]
            hint = REFUSED_FIELD_HINTS.get(leaf.lower())
            errors.append(
                FieldError(
                    field,
                    _shown_input(value),
                    hint or "unknown field",
                    "the fields of design §4: " + ", ".join(sorted(FIELD_NAMES))
                    if "." not in field
                    else ACCEPTED.get(field.rsplit(".", 1)[0], "known fields"),
                )
            )
            continue
        accepted = ACCEPTED.get(_accepted_key(field), "see design §4")
        errors.append(FieldError(field, _shown_input(value), error["msg"], accepted))
    return errors


def _accepted_key(field: str) -> str:
    # Union members add their type to the location (``temperature_c.float``); drop it.
    parts = field.split(".")
    while parts and ".".join(parts) not in ACCEPTED:
        parts.pop()
    return ".".join(parts)


def _shown_input(value: object) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)[:60]
    return _shown(value)
