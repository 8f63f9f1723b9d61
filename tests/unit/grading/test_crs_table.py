"""The ASTCT 2019 CRS table, cell by cell, from the clinical reference (§0 D1-D13, §1.2-§1.4).

Every expectation here is read off `shared/clinical-reference.md`, not off `grading/crs.py`; each
row's id names the rule (R-CRS-x) or product decision (Dx) it checks.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from grading import (
    Assessment,
    InputError,
    OxygenDevice,
    Status,
    ToxicityGrade,
    assessment_from_mapping,
    grade,
)
from tests.unit.grading.clinical import assert_graded, assert_range

FEVER = 39.0
AFEBRILE = 37.0
ROOM_AIR = {"device": "room_air"}
# Hypotension recorded as absent, on room air: nothing but the fever can grade.
NO_ORGAN_SUPPORT: dict[str, Any] = {"hypotension": False, "oxygen": ROOM_AIR}
# Hypotension not requiring vasopressors, with every pressor field stated.
ON_FLUIDS: dict[str, Any] = {"hypotension": True, "vasopressors": 0, "vasopressin": False}


def o2(device: str, flow: float | None = None) -> dict[str, Any]:
    """An oxygen field: the device, and the flow in L/min where one is given."""
    return {"device": device} if flow is None else {"device": device, "flow_l_min": flow}


def crs(**fields: Any) -> ToxicityGrade:
    return grade(Assessment(**fields)).crs


def warnings_for(result: ToxicityGrade, rule: str) -> list[str]:
    return [w for w in result.warnings if w.startswith(f"{rule}:")]


def finding(result: ToxicityGrade, domain: str):
    matches = [f for f in result.findings if f.domain == domain]
    assert len(matches) == 1, (domain, result.findings)
    return matches[0]


# --- §1.2: each grade reached through the hypotension column (fever, room air) -------------------

HYPOTENSION_COLUMN = [
    pytest.param(
        {"hypotension": False}, 1, id="R-CRS-1 grade 1: fever, no hypotension, no hypoxia"
    ),
    pytest.param(
        ON_FLUIDS, 2, id="R-CRS-7 grade 2: hypotension not requiring vasopressors (all stated)"
    ),
    pytest.param({"vasopressors": 1}, 3, id="R-CRS-5 grade 3: one vasopressor"),
    pytest.param(
        {"hypotension": True, "vasopressors": 1},
        3,
        id="R-CRS-5 grade 3: hypotension on one vasopressor",
    ),
    pytest.param(
        {"vasopressors": 1, "vasopressin": True},
        3,
        id="R-CRS-5 grade 3: one vasopressor with vasopressin",
    ),
    pytest.param({"vasopressors": 2}, 4, id="R-CRS-5 grade 4: multiple (2) vasopressors"),
    pytest.param(
        {"hypotension": True, "vasopressors": 3}, 4, id="R-CRS-5 grade 4: multiple (3) vasopressors"
    ),
    pytest.param(
        {"vasopressors": 2, "vasopressin": True},
        4,
        id="R-CRS-5 grade 4: two vasopressors plus vasopressin",
    ),
]


@pytest.mark.parametrize(("blood_pressure", "expected"), HYPOTENSION_COLUMN)
def test_hypotension_column(blood_pressure: dict[str, Any], expected: int) -> None:
    result = crs(temperature_c=FEVER, oxygen=ROOM_AIR, **blood_pressure)
    assert_graded(result, expected)
    assert finding(result, "hypotension").grade == (0 if expected == 1 else expected)


# --- §1.2 and R-CRS-4 / D1: each grade reached through the hypoxia column, every device ----------

HYPOXIA_COLUMN = [
    pytest.param(o2("room_air"), 1, id="R-CRS-4 room air: no hypoxia, fever alone is grade 1"),
    pytest.param(o2("room_air", 0), 1, id="R-CRS-4 room air at 0 L/min: grade 1"),
    pytest.param(o2("nasal_cannula", 0.5), 2, id="R-CRS-4 nasal cannula 0.5 L/min is low flow"),
    pytest.param(o2("nasal_cannula", 2), 2, id="R-CRS-4 nasal cannula 2 L/min is low flow"),
    pytest.param(o2("nasal_cannula", 6.0), 2, id="R-CRS-4 6.0 L/min is low flow"),
    pytest.param(o2("nasal_cannula", 6.5), 3, id="R-CRS-4 6.5 L/min is high flow"),
    pytest.param(
        o2("nasal_cannula", 8),
        3,
        id="D1 ordinary nasal cannula at 8 L/min: flow decides, high flow",
    ),
    pytest.param(
        o2("high_flow_nasal_cannula", 2),
        2,
        id="D1 high-flow device at 2 L/min: flow decides, low flow",
    ),
    pytest.param(
        o2("high_flow_nasal_cannula", 6.0), 2, id="D1 high-flow device at 6.0 L/min is low flow"
    ),
    pytest.param(
        o2("high_flow_nasal_cannula", 6.5), 3, id="D1 high-flow device at 6.5 L/min is high flow"
    ),
    pytest.param(
        o2("high_flow_nasal_cannula", 40), 3, id="R-CRS-4 high-flow nasal cannula 40 L/min"
    ),
    pytest.param(
        o2("high_flow_nasal_cannula"), 3, id="D1 high-flow device with no flow given is grade 3"
    ),
    pytest.param(o2("blow_by"), 2, id="R-CRS-4 blow-by is low flow"),
    pytest.param(o2("blow_by", 10), 2, id="D1 blow-by is grade 2 whatever the flow"),
    pytest.param(o2("face_mask"), 3, id="R-CRS-4 facemask, no flow given"),
    pytest.param(o2("face_mask", 1), 3, id="R-CRS-4 facemask at 1 L/min, whatever the flow"),
    pytest.param(o2("face_mask", 6), 3, id="R-CRS-4 facemask at 6 L/min, whatever the flow"),
    pytest.param(o2("face_mask", 10), 3, id="R-CRS-4 facemask at 10 L/min"),
    pytest.param(o2("nonrebreather"), 3, id="R-CRS-4 non-rebreather, no flow given"),
    pytest.param(
        o2("nonrebreather", 2), 3, id="R-CRS-4 non-rebreather at 2 L/min, whatever the flow"
    ),
    pytest.param(o2("nonrebreather", 15), 3, id="R-CRS-4 non-rebreather at 15 L/min"),
    pytest.param(o2("venturi"), 3, id="R-CRS-4 Venturi mask, no flow given"),
    pytest.param(o2("venturi", 4), 3, id="R-CRS-4 Venturi at 4 L/min, whatever the flow"),
    pytest.param(o2("venturi", 12), 3, id="R-CRS-4 Venturi at 12 L/min"),
    pytest.param(o2("cpap"), 4, id="R-CRS-4 CPAP is positive pressure"),
    pytest.param(o2("bipap"), 4, id="R-CRS-4 BiPAP is positive pressure"),
    pytest.param(
        o2("mechanical_ventilation"), 4, id="R-CRS-4 intubation and mechanical ventilation"
    ),
    pytest.param(
        o2("mechanical_ventilation", 5), 4, id="R-CRS-4 mechanical ventilation whatever the flow"
    ),
]


@pytest.mark.parametrize(("oxygen", "expected"), HYPOXIA_COLUMN)
def test_hypoxia_column(oxygen: dict[str, Any], expected: int) -> None:
    result = crs(temperature_c=FEVER, hypotension=False, oxygen=oxygen)
    assert_graded(result, expected)
    hypoxia = finding(result, "hypoxia")
    assert hypoxia.grade == (0 if oxygen["device"] == "room_air" else expected)


def test_every_oxygen_device_is_in_the_hypoxia_table() -> None:
    """R-CRS-4 / D1: no device the input accepts is left without a row above."""
    tabled = {cast("dict[str, Any]", row.values[0])["device"] for row in HYPOXIA_COLUMN}
    assert tabled == {device.value for device in OxygenDevice}


# --- D1: flow boundaries and missing flow --------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "flow", "expected"),
    [
        pytest.param("nasal_cannula", 6.0, 2, id="R-CRS-4 6.0 L/min is low flow (cannula)"),
        pytest.param("nasal_cannula", 6.5, 3, id="R-CRS-4 6.5 L/min is high flow (cannula)"),
        pytest.param(
            "high_flow_nasal_cannula", 6.0, 2, id="D1 6.0 L/min on a high-flow device is low flow"
        ),
        pytest.param(
            "high_flow_nasal_cannula", 6.5, 3, id="D1 6.5 L/min on a high-flow device is high flow"
        ),
        pytest.param("nasal_cannula", 6.01, 3, id="R-CRS-4 just above 6 L/min is high flow"),
    ],
)
def test_flow_boundary(device: str, flow: float, expected: int) -> None:
    """R-CRS-4: ≤6 low, >6 high; cancercalc's '≥6 high' and cliot's '<6 low' are wrong (§1.4)."""
    assert_graded(crs(temperature_c=FEVER, hypotension=False, oxygen=o2(device, flow)), expected)


def test_d1_high_flow_device_without_flow_is_3_with_a_note() -> None:
    result = crs(temperature_c=FEVER, hypotension=False, oxygen=o2("high_flow_nasal_cannula"))
    assert_graded(result, 3)
    notes = warnings_for(result, "D1")
    assert notes, result.warnings
    assert any("flow" in note.lower() for note in notes)


def test_d1_nasal_cannula_without_flow_is_2_to_3_and_asks_for_the_flow() -> None:
    result = crs(temperature_c=FEVER, hypotension=False, oxygen=o2("nasal_cannula"))
    assert_range(result, 2, 3)
    assert "flow" in (result.question or "").lower()


def test_d10_nasal_cannula_without_flow_does_not_matter_on_two_pressors() -> None:
    result = crs(temperature_c=FEVER, vasopressors=2, oxygen=o2("nasal_cannula"))
    assert_graded(result, 4)


# --- R-CRS-1: the fever threshold is inclusive ---------------------------------------------------


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [
        pytest.param(38.0, 1, id="R-CRS-1 38.0 °C is fever (inclusive)"),
        pytest.param(38.01, 1, id="R-CRS-1 38.01 °C is fever"),
        pytest.param(40.5, 1, id="R-CRS-1 40.5 °C is fever"),
        pytest.param(37.99, 0, id="R-CRS-1 37.99 °C is not fever"),
        pytest.param(37.0, 0, id="R-CRS-1 no fever and no findings gives CRS 0, not 1"),
        pytest.param(35.5, 0, id="R-CRS-1 hypothermia is not fever"),
    ],
)
def test_fever_threshold(temperature: float, expected: int) -> None:
    assert_graded(crs(temperature_c=temperature, **NO_ORGAN_SUPPORT), expected)


def test_r_crs_1_no_fever_no_findings_is_0_not_1() -> None:
    result = crs(temperature_c=AFEBRILE, **NO_ORGAN_SUPPORT)
    assert_graded(result, 0)
    assert not result.warnings


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"temperature_c": AFEBRILE}, id="D5 afebrile untreated: 0 with nothing else"),
        pytest.param(
            {"temperature_c": AFEBRILE, "prior_crs_treatment": False},
            id="D5 afebrile, stated untreated: 0 with nothing else",
        ),
        pytest.param(
            {"temperature_c": 37.99, "hypotension": True},
            id="D5 afebrile untreated: 0 with oxygen unknown",
        ),
    ],
)
def test_d5_afebrile_untreated_is_always_0(fields: dict[str, Any]) -> None:
    """D10: the known findings pin the grade: with no fever and no treatment CRS is 0 (D5)."""
    assert_graded(crs(**fields), 0)


# --- R-CRS-2 / D13: after treatment fever is no longer needed ------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"vasopressors": 1, "oxygen": ROOM_AIR},
            3,
            id="R-CRS-2 treated, afebrile, on a pressor gives 3",
        ),
        pytest.param(
            {**ON_FLUIDS, "oxygen": ROOM_AIR},
            2,
            id="R-CRS-2 treated, afebrile, hypotension on fluids gives 2",
        ),
        pytest.param(
            {"hypotension": False, "oxygen": o2("nasal_cannula", 4)},
            2,
            id="R-CRS-2 treated, afebrile, low-flow oxygen gives 2",
        ),
        pytest.param(
            {"hypotension": False, "oxygen": o2("nonrebreather", 10)},
            3,
            id="R-CRS-2 treated, afebrile, non-rebreather gives 3",
        ),
        pytest.param(
            {"vasopressors": 2, "oxygen": ROOM_AIR},
            4,
            id="R-CRS-2 treated, afebrile, two pressors give 4",
        ),
        pytest.param(
            {"hypotension": False, "oxygen": o2("bipap")},
            4,
            id="R-CRS-2 treated, afebrile, BiPAP gives 4",
        ),
    ],
)
def test_r_crs_2_fever_not_needed_after_treatment(fields: dict[str, Any], expected: int) -> None:
    result = crs(temperature_c=AFEBRILE, prior_crs_treatment=True, **fields)
    assert_graded(result, expected)
    assert not warnings_for(result, "D5")


def test_d13_treated_with_temperature_missing_grades_on_organ_support() -> None:
    """D13: prior treatment makes fever unnecessary, so a missing temperature cannot matter."""
    result = crs(prior_crs_treatment=True, vasopressors=1, oxygen=ROOM_AIR)
    assert_graded(result, 3)


# --- R-CRS-3: the worse of hypotension and hypoxia wins ------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"vasopressors": 1, "oxygen": o2("nasal_cannula", 4)},
            3,
            id="R-CRS-3 one pressor plus low flow gives 3 (ASTCT example)",
        ),
        pytest.param(
            {**ON_FLUIDS, "oxygen": o2("nonrebreather", 15)},
            3,
            id="R-CRS-3 hypotension on fluids plus non-rebreather gives 3",
        ),
        pytest.param(
            {**ON_FLUIDS, "oxygen": o2("nasal_cannula", 3)},
            2,
            id="R-CRS-3 hypotension on fluids plus low flow gives 2",
        ),
        pytest.param(
            {"vasopressors": 2, "oxygen": o2("nasal_cannula", 2)},
            4,
            id="R-CRS-3 two pressors plus low flow gives 4",
        ),
        pytest.param(
            {**ON_FLUIDS, "oxygen": o2("cpap")},
            4,
            id="R-CRS-3 hypotension on fluids plus CPAP gives 4",
        ),
        pytest.param(
            {"vasopressors": 1, "oxygen": o2("high_flow_nasal_cannula", 30)},
            3,
            id="R-CRS-3 one pressor plus high flow gives 3",
        ),
        pytest.param(
            {"vasopressors": 1, "oxygen": o2("mechanical_ventilation")},
            4,
            id="R-CRS-3 one pressor plus ventilation gives 4",
        ),
    ],
)
def test_r_crs_3_worst_parameter_wins(fields: dict[str, Any], expected: int) -> None:
    result = crs(temperature_c=FEVER, **fields)
    assert_graded(result, expected)
    organ = [f for f in result.drivers if f.domain in {"hypotension", "hypoxia"}]
    assert organ, "the worse organ finding drives the grade"
    assert all(f.grade == expected for f in organ)


# --- R-CRS-5 / D3: vasopressin -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected", "d3_note"),
    [
        pytest.param(
            {"hypotension": True, "vasopressin": True, "vasopressors": 0},
            3,
            True,
            id="D3 vasopressin alone (0 other pressors stated) gives 3 with a note",
        ),
        pytest.param(
            {"vasopressors": 1, "vasopressin": True},
            3,
            False,
            id="R-CRS-5 one pressor plus vasopressin stays 3",
        ),
        pytest.param(
            {"vasopressors": 2}, 4, False, id="R-CRS-5 two non-vasopressin pressors give 4"
        ),
        pytest.param(
            {"vasopressors": 2, "vasopressin": False},
            4,
            False,
            id="R-CRS-5 two pressors without vasopressin give 4",
        ),
    ],
)
def test_r_crs_5_vasopressin(fields: dict[str, Any], expected: int, d3_note: bool) -> None:
    result = crs(temperature_c=FEVER, oxygen=ROOM_AIR, **fields)
    assert_graded(result, expected)
    if d3_note:
        assert warnings_for(result, "D3"), result.warnings


# --- D4: treated, afebrile, nothing left ---------------------------------------------------------


def test_d4_treated_afebrile_no_findings_is_0_resolving() -> None:
    result = crs(temperature_c=AFEBRILE, prior_crs_treatment=True, **NO_ORGAN_SUPPORT)
    assert_graded(result, 0)
    summary = result.summary.lower()
    assert "resolving" in summary or "resolved" in summary, result.summary
    assert not warnings_for(result, "D5")


# --- D5: never treated and afebrile: not CRS, but never silent -----------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(
            {"vasopressors": 1, "oxygen": ROOM_AIR},
            id="D5 afebrile, untreated, on one pressor gives 0 and a warning",
        ),
        pytest.param(
            {"vasopressors": 2, "oxygen": ROOM_AIR},
            id="D5 afebrile, untreated, on two pressors gives 0 and a warning",
        ),
        pytest.param(
            {**ON_FLUIDS, "oxygen": ROOM_AIR},
            id="D5 afebrile, untreated, hypotension on fluids gives 0 and a warning",
        ),
        pytest.param(
            {"hypotension": False, "oxygen": o2("cpap")},
            id="D5 afebrile, untreated, on CPAP gives 0 and a warning",
        ),
        pytest.param(
            {"hypotension": False, "oxygen": o2("nasal_cannula", 3)},
            id="D5 afebrile, untreated, low-flow oxygen gives 0 and a warning",
        ),
        pytest.param(
            {"prior_crs_treatment": False, "vasopressors": 1, "oxygen": ROOM_AIR},
            id="D5 afebrile, stated untreated, on a pressor gives 0 and a warning",
        ),
        pytest.param(
            {"vasopressors": 1},
            id="D5 afebrile, untreated, on a pressor, oxygen unknown: 0 and a warning",
        ),
    ],
)
def test_d5_afebrile_untreated_with_findings(fields: dict[str, Any]) -> None:
    result = crs(temperature_c=AFEBRILE, **fields)
    assert_graded(result, 0)
    assert warnings_for(result, "D5"), "D5: never silent"


# --- D10: a grade only when the data determine it ------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "low", "high", "asks_for"),
    [
        pytest.param(
            {"temperature_c": FEVER, "hypotension": False},
            1,
            4,
            "oxygen",
            id="D10 fever, oxygen missing: range 1-4 asking for oxygen",
        ),
        pytest.param(
            {"temperature_c": FEVER, "vasopressors": 1},
            3,
            4,
            "oxygen",
            id="D10 fever on one pressor, oxygen missing: range 3-4 asking for oxygen",
        ),
        pytest.param(
            {"temperature_c": FEVER, **ON_FLUIDS},
            2,
            4,
            "oxygen",
            id="D10 fever with hypotension, oxygen missing: range 2-4",
        ),
        pytest.param(
            {"temperature_c": FEVER, "oxygen": ROOM_AIR},
            1,
            4,
            "blood pressure",
            id="D10 fever on room air, hypotension missing: asks about blood pressure",
        ),
        pytest.param({"temperature_c": FEVER}, 1, 4, "oxygen", id="D10 fever alone: range 1-4"),
        pytest.param(
            {**ON_FLUIDS, "oxygen": ROOM_AIR},
            0,
            2,
            "temperature",
            id="D10 hypotension, temperature missing, untreated: asks for temperature",
        ),
        pytest.param(
            {"vasopressors": 1, "oxygen": ROOM_AIR},
            0,
            3,
            "temperature",
            id="D10 one pressor, temperature missing, untreated: asks for temperature",
        ),
        pytest.param(
            {"hypotension": False, "oxygen": o2("cpap")},
            0,
            4,
            "temperature",
            id="D10 CPAP, temperature missing, untreated: asks for temperature",
        ),
    ],
)
def test_d10_open_range(fields: dict[str, Any], low: int, high: int, asks_for: str) -> None:
    result = crs(**fields)
    assert_range(result, low, high)
    assert asks_for in (result.question or "").lower(), result.question


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"temperature_c": FEVER, "vasopressors": 2},
            4,
            id="D10 fever plus two pressors is 4 whatever the oxygen",
        ),
        pytest.param(
            {"temperature_c": FEVER, "oxygen": o2("mechanical_ventilation")},
            4,
            id="D10 fever on a ventilator is 4 whatever the blood pressure",
        ),
        pytest.param(
            {"temperature_c": FEVER, "vasopressors": 2, "oxygen": o2("nasal_cannula")},
            4,
            id="D10 two pressors decide even with the cannula flow missing",
        ),
    ],
)
def test_d10_known_findings_pin_the_grade(fields: dict[str, Any], expected: int) -> None:
    assert_graded(crs(**fields), expected)


def test_d10_missing_names_the_field() -> None:
    result = crs(temperature_c=FEVER, hypotension=False)
    assert "oxygen" in result.missing


def test_d10_nothing_recorded_is_not_assessed() -> None:
    result = crs()
    assert result.status is Status.NOT_ASSESSED
    assert result.grade is None
    assert result.range is None


# --- D2: infants ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "oxygen", "expected", "noted"),
    [
        pytest.param(
            8.0,
            o2("nasal_cannula", 2),
            2,
            True,
            id="D2 8 kg on 2 L/min: grade 2 as written, with a note",
        ),
        pytest.param(
            9.5,
            o2("high_flow_nasal_cannula", 8),
            3,
            True,
            id="D2 9.5 kg on 8 L/min high flow: grade 3 as written, with a note",
        ),
        pytest.param(
            4.0,
            o2("high_flow_nasal_cannula", 6.0),
            2,
            True,
            id="D2 4 kg on 6.0 L/min: absolute cut-off kept (low flow), with a note",
        ),
        pytest.param(
            10.0, o2("nasal_cannula", 2), 2, False, id="D2 10 kg is not under 10 kg: no note"
        ),
        pytest.param(
            70.0, o2("high_flow_nasal_cannula", 8), 3, False, id="D2 adult weight: no note"
        ),
    ],
)
def test_d2_infant_note(weight: float, oxygen: dict[str, Any], expected: int, noted: bool) -> None:
    result = crs(temperature_c=FEVER, hypotension=False, oxygen=oxygen, weight_kg=weight)
    assert_graded(result, expected)
    assert bool(warnings_for(result, "D2")) is noted, result.warnings


def test_d2_infant_on_high_flow_device_without_flow_gets_the_note() -> None:
    result = crs(
        temperature_c=FEVER, hypotension=False, oxygen=o2("high_flow_nasal_cannula"), weight_kg=6.0
    )
    assert_graded(result, 3)
    assert warnings_for(result, "D2"), result.warnings


# --- D9: findings attributed to another cause ----------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "attributed", "expected", "excluded_finding"),
    [
        pytest.param(
            {"temperature_c": FEVER, "vasopressors": 1, "oxygen": ROOM_AIR},
            {"hypotension"},
            1,
            "hypotension",
            id="D9 hypotension attributed elsewhere is excluded and listed",
        ),
        pytest.param(
            {"temperature_c": FEVER, **ON_FLUIDS, "oxygen": o2("cpap")},
            {"hypoxia"},
            2,
            "hypoxia",
            id="D9 hypoxia attributed elsewhere is excluded and listed",
        ),
        pytest.param(
            {"temperature_c": FEVER, **NO_ORGAN_SUPPORT},
            {"fever"},
            0,
            "fever",
            id="D9 R-CRS-1 fever explained by another cause is not CRS fever",
        ),
        pytest.param(
            {"temperature_c": FEVER, "vasopressors": 2, "oxygen": o2("bipap")},
            {"hypotension", "hypoxia"},
            1,
            "hypotension",
            id="D9 both organ findings attributed elsewhere leave the fever",
        ),
    ],
)
def test_d9_attributed_elsewhere(
    fields: dict[str, Any], attributed: set[str], expected: int, excluded_finding: str
) -> None:
    result = crs(attributed_elsewhere=attributed, **fields)
    assert_graded(result, expected)
    assert excluded_finding in {x.finding for x in result.excluded}
    assert all(f.domain not in attributed for f in result.drivers)


def test_d9_fever_attributed_elsewhere_with_pressor_untreated_warns_d5() -> None:
    result = crs(
        temperature_c=FEVER, vasopressors=1, oxygen=ROOM_AIR, attributed_elsewhere={"fever"}
    )
    assert_graded(result, 0)
    assert warnings_for(result, "D5")


# --- R-CRS-9: temporal context -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "warned"),
    [
        pytest.param(20, True, id="R-CRS-9 day 20 gives a warning"),
        pytest.param(14.5, True, id="R-CRS-9 day 14.5 is more than 14 days: warning"),
        pytest.param(14, False, id="R-CRS-9 day 14: no warning"),
        pytest.param(3, False, id="R-CRS-9 day 3: no warning"),
    ],
)
def test_r_crs_9_late_crs_warning(day: float, warned: bool) -> None:
    result = crs(temperature_c=FEVER, days_since_infusion=day, **NO_ORGAN_SUPPORT)
    assert_graded(result, 1)
    assert bool(warnings_for(result, "R-CRS-9")) is warned, result.warnings


# --- R-CRS-6 / R-CRS-7 / R-CRS-8: tempting inputs the core refuses -------------------------------


@pytest.mark.parametrize(
    ("field", "value", "mentions"),
    [
        pytest.param(
            "sbp",
            85,
            ("bp=low", "pressors"),
            id="R-CRS-7 sbp is refused: hypotension is graded by its treatment",
        ),
        pytest.param(
            "map",
            55,
            ("bp=low", "pressors"),
            id="R-CRS-7 map is refused: hypotension is graded by its treatment",
        ),
        pytest.param("bp_mmhg", "80/40", ("bp=low", "pressors"), id="R-CRS-7 bp_mmhg is refused"),
        pytest.param(
            "organ_toxicity",
            "AKI grade 2",
            ("R-CRS-6",),
            id="R-CRS-6 organ_toxicity is refused: never changes the CRS grade",
        ),
        pytest.param(
            "spo2",
            88,
            ("oxygen", "o2="),
            id="R-CRS-8 spo2 is refused: hypoxia is graded by the support needed",
        ),
        pytest.param(
            "fio2", 0.4, ("R-CRS-4",), id="R-CRS-4 fio2 is refused: ASTCT grades device and flow"
        ),
    ],
)
def test_refused_fields(field: str, value: Any, mentions: tuple[str, ...]) -> None:
    with pytest.raises(InputError) as caught:
        assessment_from_mapping({"temperature_c": FEVER, field: value})
    errors = [e for e in caught.value.errors if e.field == field]
    assert errors, caught.value.errors
    assert any(word in errors[0].problem for word in mentions), errors[0].problem


def test_r_crs_7_no_hypotension_while_on_pressors_is_a_contradiction() -> None:
    with pytest.raises(InputError) as caught:
        assessment_from_mapping({"temperature_c": FEVER, "hypotension": False, "vasopressors": 1})
    assert "hypotension" in {e.field for e in caught.value.errors}


@pytest.mark.parametrize(
    ("blood_pressure", "expected_range", "asks_for"),
    [
        pytest.param(
            {"hypotension": True},
            (2, 4),
            "vasopressors",
            id="D10 hypotension with the vasopressor count not recorded is 2-4",
        ),
        pytest.param(
            {"hypotension": True, "vasopressors": 0},
            (2, 3),
            "vasopressin",
            id="D10 hypotension, 0 vasopressors, vasopressin not recorded is 2-3",
        ),
        pytest.param(
            {"vasopressin": True},
            (3, 4),
            "vasopressors",
            id="D10 D3 vasopressin with the other vasopressors not recorded is 3-4",
        ),
        pytest.param(
            {"vasopressors": 0},
            (1, 3),
            "blood pressure",
            id="D10 0 vasopressors but hypotension not recorded stays open",
        ),
    ],
)
def test_d10_unrecorded_vasopressor_support_leaves_the_grade_open(
    blood_pressure: dict[str, Any], expected_range: tuple[int, int], asks_for: str
) -> None:
    """A missing pressor record is 'not assessed', never 'none' (D10)."""
    result = crs(temperature_c=FEVER, oxygen=ROOM_AIR, **blood_pressure)
    assert result.status is Status.UNDETERMINED
    assert result.grade is None
    assert result.range == expected_range
    assert result.question is not None
    assert asks_for in result.question
    assert not any(w.startswith("D3") for w in result.warnings), (
        "the D3 'vasopressin alone' note needs the other vasopressors recorded as 0"
    )
