"""The ASTCT 2019 ICANS tables, cell by cell, from the clinical reference (§0 D6-D11, §2.2-§2.5).

Every expectation is read off `shared/clinical-reference.md`, not off `grading/icans.py`; each
row's id names the rule (R-ICANS-x, ICE, CAPD) or product decision (Dx) it checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from grading import (
    Assessment,
    InputError,
    NeuroTool,
    Status,
    ToxicityGrade,
    assessment_from_mapping,
    grade,
)
from tests.unit.grading.clinical import NORMAL_NEURO_EXAM, assert_graded, assert_range

ADULT = 45.0
CHILD = 6.0

# A fully normal neurological examination apart from the encephalopathy screen and consciousness.
NORMAL_EXAM = NORMAL_NEURO_EXAM
ICP_SIGNS = ("papilledema", "cn6_palsy", "posturing", "cushings_triad")


@pytest.fixture
def normal_exam() -> dict[str, Any]:
    """Everything else normal: no seizure, no weakness, no edema, no raised-ICP sign."""
    return dict(NORMAL_EXAM)


def icans(**fields: Any) -> ToxicityGrade:
    return grade(Assessment(**fields)).icans


def adult(exam: dict[str, Any], **fields: Any) -> ToxicityGrade:
    """An adult's ICANS grade: the normal exam, overridden by ``fields``."""
    return icans(**{"age_years": ADULT, **exam, **fields})


def child(exam: dict[str, Any], **fields: Any) -> ToxicityGrade:
    return icans(**{"age_years": CHILD, **exam, **fields})


def assert_not_assessed(result: ToxicityGrade) -> None:
    assert result.status is Status.NOT_ASSESSED, (result.summary, result.grade, result.range)
    assert result.grade is None, "not assessable is never 0 (D9)"
    assert result.range is None


def warnings_for(result: ToxicityGrade, rule: str) -> list[str]:
    return [w for w in result.warnings if w.startswith(f"{rule}:")]


# --- §2.3 ICE row (consciousness alert, exam normal) ---------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"ice": 10}, 0, id="ICE 10 is normal: grade 0"),
        pytest.param({"ice": 9}, 1, id="ICE 9 is in the 7-9 band: grade 1"),
        pytest.param({"ice": 8}, 1, id="ICE 8 is in the 7-9 band: grade 1"),
        pytest.param({"ice": 7}, 1, id="ICE 7 is in the 7-9 band: grade 1"),
        pytest.param({"ice": 6}, 2, id="ICE 6 is in the 3-6 band: grade 2"),
        pytest.param({"ice": 4}, 2, id="ICE 4 is in the 3-6 band: grade 2"),
        pytest.param({"ice": 3}, 2, id="ICE 3 is in the 3-6 band: grade 2"),
        pytest.param({"ice": 2}, 3, id="ICE 2 is in the 0-2 band: grade 3"),
        pytest.param({"ice": 1}, 3, id="ICE 1 is in the 0-2 band: grade 3"),
        pytest.param(
            {"ice": 0, "global_aphasia": True},
            3,
            id="R-ICANS-2 ICE 0 awake with global aphasia: grade 3",
        ),
    ],
)
def test_ice_bands(normal_exam: dict[str, Any], fields: dict[str, Any], expected: int) -> None:
    result = adult(normal_exam, consciousness="alert", **fields)
    assert_graded(result, expected)
    assert result.tool is NeuroTool.ICE
    encephalopathy = [f for f in result.findings if f.domain == "encephalopathy"]
    assert [f.grade for f in encephalopathy] == [expected]


# --- §2.3 consciousness row ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"ice": 10, "consciousness": "alert"}, 0, id="R-ICANS-1 alert with ICE 10: grade 0"
        ),
        pytest.param(
            {"ice": 10, "consciousness": "awakens_spontaneously"},
            1,
            id="R-ICANS-6 awakens spontaneously with ICE 10 gives 1",
        ),
        pytest.param(
            {"ice": 10, "consciousness": "awakens_to_voice"},
            2,
            id="R-ICANS-1 awakens to voice: grade 2",
        ),
        pytest.param(
            {"ice": 10, "consciousness": "awakens_to_tactile"},
            3,
            id="R-ICANS-1 awakens only to tactile stimulus: grade 3",
        ),
        pytest.param(
            {"consciousness": "unarousable"},
            4,
            id="R-ICANS-1 unarousable (no ICE possible): grade 4",
        ),
        pytest.param(
            {"ice": 0, "consciousness": "unarousable"},
            4,
            id="R-ICANS-2 ICE 0 because unarousable: grade 4",
        ),
        pytest.param(
            {"ice": 8, "consciousness": "awakens_spontaneously"},
            1,
            id="R-ICANS-6 drowsy with ICE 8: grade 1",
        ),
    ],
)
def test_consciousness_row(
    normal_exam: dict[str, Any], fields: dict[str, Any], expected: int
) -> None:
    assert_graded(adult(normal_exam, **fields), expected)


# --- §2.3 seizure, motor and raised-ICP rows (ICE 10, alert) -------------------------------------


@pytest.mark.parametrize(
    ("finding", "expected"),
    [
        pytest.param(
            {"seizure": "rapid_resolution"},
            3,
            id="R-ICANS-1 seizure that resolves rapidly gives 3, not 4",
        ),
        pytest.param(
            {"seizure": "prolonged_or_repetitive"},
            4,
            id="R-ICANS-1 prolonged or repetitive seizures give 4",
        ),
        pytest.param({"motor_weakness": True}, 4, id="R-ICANS-1 deep focal motor weakness gives 4"),
        pytest.param(
            {"cerebral_edema": "focal"}, 3, id="R-ICANS-1 focal or local edema on imaging gives 3"
        ),
        pytest.param(
            {"cerebral_edema": "diffuse"}, 4, id="R-ICANS-1 diffuse cerebral edema gives 4"
        ),
        pytest.param({"papilledema": True}, 4, id="R-ICANS-1 papilledema gives 4"),
        pytest.param({"cn6_palsy": True}, 4, id="R-ICANS-1 cranial nerve VI palsy gives 4"),
        pytest.param(
            {"posturing": True}, 4, id="R-ICANS-1 decerebrate or decorticate posturing gives 4"
        ),
        pytest.param({"cushings_triad": True}, 4, id="R-ICANS-1 Cushing's triad gives 4"),
        pytest.param(
            {"cerebral_edema": "focal", "papilledema": True},
            4,
            id="R-ICANS-1 focal edema with papilledema gives 4",
        ),
    ],
)
def test_objective_rows(
    normal_exam: dict[str, Any], finding: dict[str, Any], expected: int
) -> None:
    assert_graded(adult(normal_exam, ice=10, consciousness="alert", **finding), expected)


# --- R-ICANS-1: the most severe domain wins ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"ice": 3, "consciousness": "alert", "seizure": "rapid_resolution"},
            3,
            id="R-ICANS-1 ICE 3 plus a generalized seizure gives 3 (ASTCT example)",
        ),
        pytest.param(
            {"ice": 8, "consciousness": "alert", "cerebral_edema": "focal"},
            3,
            id="R-ICANS-1 ICE 8 with focal edema gives 3",
        ),
        pytest.param(
            {"ice": 5, "consciousness": "awakens_to_voice"},
            2,
            id="R-ICANS-1 ICE 5 and awakens to voice gives 2",
        ),
        pytest.param(
            {"ice": 8, "consciousness": "awakens_to_tactile"},
            3,
            id="R-ICANS-1 ICE 8 but awakens only to touch gives 3",
        ),
        pytest.param(
            {"ice": 9, "consciousness": "awakens_to_voice"},
            2,
            id="R-ICANS-1 ICE 9 and awakens to voice gives 2",
        ),
        pytest.param(
            {"ice": 2, "consciousness": "alert", "motor_weakness": True},
            4,
            id="R-ICANS-1 ICE 2 with motor weakness gives 4",
        ),
    ],
)
def test_r_icans_1_most_severe_domain(
    normal_exam: dict[str, Any], fields: dict[str, Any], expected: int
) -> None:
    result = adult(normal_exam, **fields)
    assert_graded(result, expected)
    assert result.drivers
    assert all(d.grade == expected for d in result.drivers)


# --- R-ICANS-2 / D8: ICE 0 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"consciousness": "alert", "global_aphasia": True},
            3,
            id="R-ICANS-2 ICE 0 awake with global aphasia gives 3, not 4",
        ),
        pytest.param(
            {"consciousness": "awakens_spontaneously", "global_aphasia": True},
            3,
            id="R-ICANS-2 ICE 0 drowsy with global aphasia gives 3",
        ),
        pytest.param({"consciousness": "unarousable"}, 4, id="D8 ICE 0 unarousable gives 4"),
        pytest.param(
            {"consciousness": "awakens_to_tactile", "global_aphasia": False},
            3,
            id="R-ICANS-2 ICE 0 roused by touch, not aphasic, gives 3",
        ),
        pytest.param(
            {"consciousness": "awakens_to_voice", "global_aphasia": False},
            3,
            id="R-ICANS-2 ICE 0 roused by voice, not aphasic, gives 3 (0-2 band)",
        ),
    ],
)
def test_r_icans_2_ice_zero(
    normal_exam: dict[str, Any], fields: dict[str, Any], expected: int
) -> None:
    assert_graded(adult(normal_exam, ice=0, **fields), expected)


def test_d8_ice_zero_consciousness_missing_is_3_to_4_and_asks_for_consciousness(
    normal_exam: dict[str, Any],
) -> None:
    result = adult(normal_exam, ice=0)
    assert_range(result, 3, 4)
    assert "consciousness" in (result.question or "").lower(), result.question


# --- R-ICANS-3: consciousness explained by something else ----------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"ice": 10, "consciousness": "awakens_to_tactile"},
            0,
            id="R-ICANS-3 sedated, roused only by touch, ICE 10: excluded, grade 0",
        ),
        pytest.param(
            {"ice": 8, "consciousness": "awakens_to_voice"},
            1,
            id="R-ICANS-3 sedated, to voice, ICE 8: excluded, ICE decides 1",
        ),
    ],
)
def test_r_icans_3_consciousness_attributed_elsewhere(
    normal_exam: dict[str, Any], fields: dict[str, Any], expected: int
) -> None:
    result = adult(normal_exam, attributed_elsewhere={"consciousness"}, **fields)
    assert_graded(result, expected)
    assert "consciousness" in {x.finding for x in result.excluded}
    assert all(d.domain != "consciousness" for d in result.drivers)


def test_r_icans_3_sedated_unarousable_ice_zero_is_not_graded_4(
    normal_exam: dict[str, Any],
) -> None:
    """R-ICANS-3 and D9: unarousability explained by sedation must not grade ICANS 4.

    R-ICANS-2 makes ICE 0 grade 4 *because the patient is unarousable*; once the clinician has
    attributed the depressed consciousness to another cause, that reason no longer counts.
    """
    result = adult(
        normal_exam, ice=0, consciousness="unarousable", attributed_elsewhere={"consciousness"}
    )
    assert "consciousness" in {x.finding for x in result.excluded}
    assert result.grade != 4, result.summary
    assert all(f.grade < 4 for f in result.findings), result.findings


# --- R-ICANS-4 / R-ICANS-5 / D11: recorded, never graded -----------------------------------------


@pytest.mark.parametrize(
    ("fields", "excluded", "rule"),
    [
        pytest.param(
            {"tremor_or_myoclonus": True},
            "tremor_or_myoclonus",
            "R-ICANS-4",
            id="R-ICANS-4 tremor alone with a normal exam gives 0, tremor excluded",
        ),
        pytest.param(
            {"intracranial_hemorrhage": True},
            "intracranial_hemorrhage",
            "R-ICANS-5",
            id="R-ICANS-5 intracranial hemorrhage with a normal exam gives 0, excluded",
        ),
        pytest.param(
            {
                "intracranial_hemorrhage": True,
                "cerebral_edema": "focal",
                "attributed_elsewhere": {"edema"},
            },
            "intracranial_hemorrhage",
            "R-ICANS-5",
            id="R-ICANS-5 hemorrhage with its edema attributed to it gives 0",
        ),
    ],
)
def test_never_graded(
    normal_exam: dict[str, Any], fields: dict[str, Any], excluded: str, rule: str
) -> None:
    result = adult(normal_exam, ice=10, consciousness="alert", **fields)
    assert_graded(result, 0)
    listed = {x.finding: x.rule for x in result.excluded}
    assert listed.get(excluded) == rule, result.excluded


def test_r_icans_4_tremor_does_not_raise_a_graded_patient(normal_exam: dict[str, Any]) -> None:
    result = adult(normal_exam, ice=8, consciousness="alert", tremor_or_myoclonus=True)
    assert_graded(result, 1)
    assert "tremor_or_myoclonus" in {x.finding for x in result.excluded}


# --- §2.5 / D7: CAPD in children -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected", "d7_note"),
    [
        pytest.param({"capd": 0, "consciousness": "alert"}, 0, False, id="D7 CAPD 0 gives 0"),
        pytest.param(
            {"capd": 4, "baseline_capd": 4, "consciousness": "alert"},
            0,
            None,
            id="D7 CAPD equal to the pre-infusion baseline gives 0",
        ),
        pytest.param(
            {"capd": 3, "baseline_capd": 6, "consciousness": "alert"},
            0,
            None,
            id="D7 CAPD below the pre-infusion baseline gives 0",
        ),
        pytest.param(
            {"capd": 10, "baseline_capd": 12, "consciousness": "alert"},
            0,
            None,
            id="D7 CAPD 10 at or below a baseline of 12 gives 0",
        ),
        pytest.param(
            {"capd": 1, "consciousness": "alert"},
            1,
            True,
            id="D7 CAPD 1 gives 1 with the 1-8 ambiguity note",
        ),
        pytest.param(
            {"capd": 5, "consciousness": "awakens_spontaneously"},
            1,
            True,
            id="D7 CAPD 5 awakening spontaneously gives 1 with the note",
        ),
        pytest.param(
            {"capd": 8, "consciousness": "alert"}, 1, True, id="D7 CAPD 8 gives 1 with the note"
        ),
        pytest.param(
            {"capd": 6, "baseline_capd": 3, "consciousness": "alert"},
            1,
            True,
            id="D7 CAPD rising from baseline 3 to 6 gives 1 with the note",
        ),
        pytest.param(
            {"capd": 5, "consciousness": "awakens_to_voice"},
            2,
            True,
            id="D7 CAPD 1-8 plus awakens to voice gives 2",
        ),
        pytest.param(
            {"capd": 5, "consciousness": "awakens_to_tactile"},
            3,
            True,
            id="D7 CAPD 1-8 but awakens only to touch gives 3",
        ),
        pytest.param(
            {"capd": 9, "consciousness": "alert"},
            3,
            False,
            id="CAPD 9 is a positive screen: grade 3",
        ),
        pytest.param({"capd": 32, "consciousness": "alert"}, 3, False, id="CAPD 32 gives 3"),
        pytest.param(
            {"capd": 9, "baseline_capd": 4, "consciousness": "alert"},
            3,
            False,
            id="D7 CAPD 9 above a baseline of 4 gives 3",
        ),
    ],
)
def test_capd_bands(
    normal_exam: dict[str, Any], fields: dict[str, Any], expected: int, d7_note: bool | None
) -> None:
    result = child(normal_exam, **fields)
    assert_graded(result, expected)
    assert result.tool is NeuroTool.CAPD
    if d7_note is not None:
        assert bool(warnings_for(result, "D7")) is d7_note, result.warnings


def test_d7_unarousable_child_without_capd_is_4(normal_exam: dict[str, Any]) -> None:
    result = child(normal_exam, consciousness="unarousable")
    assert_graded(result, 4)


def test_d7_note_shown_whenever_capd_is_1_to_8_even_at_baseline(
    normal_exam: dict[str, Any],
) -> None:
    result = child(normal_exam, capd=4, baseline_capd=4, consciousness="alert")
    assert_graded(result, 0)
    assert warnings_for(result, "D7"), result.warnings


# --- D6: which tool at which age -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "warned"),
    [
        pytest.param({"age_years": 8, "ice": 10}, True, id="D6 ICE at age 8 gives a warning"),
        pytest.param({"age_years": 11.5, "ice": 10}, True, id="D6 ICE at age 11.5 gives a warning"),
        pytest.param(
            {"age_years": 15, "capd": 0},
            True,
            id="D6 CAPD at age 15 without developmental delay gives a warning",
        ),
        pytest.param(
            {"age_years": 15, "capd": 0, "developmental_delay": False},
            True,
            id="D6 CAPD at age 15, delay stated absent, gives a warning",
        ),
        pytest.param({"age_years": 12, "capd": 0}, False, id="D6 CAPD at exactly 12: no warning"),
        pytest.param(
            {"age_years": 15, "capd": 0, "developmental_delay": True},
            False,
            id="D6 CAPD at 15 with developmental delay: no warning",
        ),
        pytest.param(
            {"age_years": 30, "capd": 0, "developmental_delay": True},
            False,
            id="D6 CAPD at 30 with developmental delay: no warning",
        ),
        pytest.param({"age_years": 6, "capd": 0}, False, id="D6 CAPD at age 6: no warning"),
        pytest.param({"age_years": 12, "ice": 10}, False, id="D6 ICE at exactly 12: no warning"),
        pytest.param({"age_years": 40, "ice": 10}, False, id="D6 ICE at age 40: no warning"),
    ],
)
def test_d6_tool_by_age(normal_exam: dict[str, Any], fields: dict[str, Any], warned: bool) -> None:
    result = icans(consciousness="alert", **normal_exam, **fields)
    assert_graded(result, 0)  # the other tool is accepted and graded as given
    assert result.tool is (NeuroTool.ICE if "ice" in fields else NeuroTool.CAPD)
    assert bool(warnings_for(result, "D6")) is warned, result.warnings


def test_d6_ice_in_a_child_is_graded_as_given(normal_exam: dict[str, Any]) -> None:
    result = child(normal_exam, ice=5, consciousness="alert")
    assert_graded(result, 2)
    assert warnings_for(result, "D6")


# --- D9: attributed to another cause, or missing -------------------------------------------------

ALL_NEURO = {"ice", "capd", "consciousness", "seizure", "motor", "edema"}


@pytest.mark.parametrize(
    ("fields", "listed"),
    [
        pytest.param(
            {
                "ice": 3,
                "consciousness": "awakens_to_voice",
                "seizure": "rapid_resolution",
                "motor_weakness": True,
                "cerebral_edema": "focal",
                "attributed_elsewhere": ALL_NEURO,
            },
            {"ice", "consciousness", "seizure", "motor", "edema"},
            id="D9 every neuro domain excluded gives NOT_ASSESSED",
        ),
        pytest.param(
            {
                "ice": 0,
                "consciousness": "unarousable",
                "attributed_elsewhere": {"ice", "consciousness"},
            },
            {"ice", "consciousness"},
            id="D9 sedated: ICE and consciousness excluded, exam normal: NOT_ASSESSED",
        ),
        pytest.param(
            {
                "capd": 12,
                "consciousness": "awakens_to_voice",
                "age_years": CHILD,
                "attributed_elsewhere": {"capd", "consciousness"},
            },
            {"capd", "consciousness"},
            id="D9 CAPD and consciousness excluded, exam normal: NOT_ASSESSED",
        ),
        pytest.param({}, set(), id="D9 screen and consciousness missing, exam normal: never 0"),
        pytest.param(
            {"tremor_or_myoclonus": True},
            {"tremor_or_myoclonus"},
            id="D9 R-ICANS-4 tremor alone with no screen is not assessable, not 0",
        ),
    ],
)
def test_d9_not_assessable(
    normal_exam: dict[str, Any], fields: dict[str, Any], listed: set[str]
) -> None:
    result = icans(**{**normal_exam, **fields})
    assert_not_assessed(result)
    assert listed <= {x.finding for x in result.excluded}, result.excluded


def test_d9_nothing_recorded_is_not_assessed() -> None:
    assert_not_assessed(icans())


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"seizure": "rapid_resolution"},
            3,
            id="D9 screen and consciousness excluded, but a seizure still grades 3",
        ),
        pytest.param(
            {"seizure": "prolonged_or_repetitive"},
            4,
            id="D9 screen and consciousness excluded, prolonged seizure grades 4",
        ),
        pytest.param(
            {"cerebral_edema": "diffuse"},
            4,
            id="D9 screen and consciousness excluded, diffuse edema grades 4",
        ),
        pytest.param(
            {"motor_weakness": True},
            4,
            id="D9 screen and consciousness excluded, motor weakness grades 4",
        ),
    ],
)
def test_d9_objective_findings_still_grade(
    normal_exam: dict[str, Any], fields: dict[str, Any], expected: int
) -> None:
    result = adult(
        {**normal_exam, **fields},
        ice=0,
        consciousness="unarousable",
        attributed_elsewhere={"ice", "consciousness"},
    )
    assert_graded(result, expected)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"motor_weakness": True},
            4,
            id="D9 screen and consciousness missing, motor weakness grades 4",
        ),
        pytest.param(
            {"papilledema": True}, 4, id="D9 screen and consciousness missing, papilledema grades 4"
        ),
    ],
)
def test_d9_grade_4_finding_grades_without_the_screen(
    fields: dict[str, Any], expected: int
) -> None:
    """D10: a recorded grade-4 finding decides ICANS whatever else is missing."""
    assert_graded(icans(age_years=ADULT, **fields), expected)


def test_d9_seizure_with_screen_missing_is_at_least_3(normal_exam: dict[str, Any]) -> None:
    result = adult({**normal_exam, "seizure": "rapid_resolution"})
    assert_range(result, 3, 4)


def test_d9_excluded_seizure_is_listed_and_not_graded(normal_exam: dict[str, Any]) -> None:
    result = adult(
        {**normal_exam, "seizure": "prolonged_or_repetitive"},
        ice=10,
        consciousness="alert",
        attributed_elsewhere={"seizure"},
    )
    assert_graded(result, 0)
    assert "seizure" in {x.finding for x in result.excluded}


# --- D10: a grade only when the data determine it ------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "low", "high", "asks_for"),
    [
        pytest.param(
            {**NORMAL_EXAM, "ice": 10},
            0,
            3,
            "consciousness",
            id="D10 ICE 10 with consciousness missing: arousable, so 0-3",
        ),
        pytest.param(
            {**NORMAL_EXAM, "ice": 5},
            2,
            3,
            "consciousness",
            id="D10 ICE 5 with consciousness missing: 2-3",
        ),
        pytest.param(
            {**NORMAL_EXAM, "capd": 5, "age_years": CHILD},
            1,
            3,
            "consciousness",
            id="D10 CAPD 5 with consciousness missing: CAPD performed, so 1-3",
        ),
        pytest.param(
            {**NORMAL_EXAM, "consciousness": "alert"},
            0,
            3,
            "ice",
            id="D10 alert with the ICE missing: 0-3, asks for the ICE",
        ),
        pytest.param(
            {"ice": 10, "consciousness": "alert"},
            0,
            4,
            "seizure",
            id="D10 ICE 10 and alert with the rest of the exam missing: 0-4",
        ),
        pytest.param(
            {
                "ice": 10,
                "consciousness": "alert",
                "seizure": "none",
                "motor_weakness": False,
                "cerebral_edema": "none",
            },
            0,
            4,
            "papilledema",
            id="D10 raised-ICP signs missing leave 0-4",
        ),
        pytest.param(
            {
                "ice": 10,
                "consciousness": "alert",
                "seizure": "none",
                "motor_weakness": False,
                "cerebral_edema": "focal",
            },
            3,
            4,
            "papilledema",
            id="D10 focal edema with raised-ICP signs missing: 3-4",
        ),
        pytest.param(
            {**NORMAL_EXAM, "ice": 10, "consciousness": "alert", "cerebral_edema": None},
            0,
            4,
            "edema",
            id="D10 cerebral edema missing leaves 0-4",
        ),
    ],
)
def test_d10_open_range(fields: dict[str, Any], low: int, high: int, asks_for: str) -> None:
    result = icans(age_years=fields.pop("age_years", ADULT), **fields)
    assert_range(result, low, high)
    assert asks_for in (result.question or "").lower(), result.question


# --- §2.2: ICE items -----------------------------------------------------------------------------


def items(
    orientation: int, naming: int, commands: int, writing: int, attention: int
) -> dict[str, int]:
    return {
        "orientation": orientation,
        "naming": naming,
        "commands": commands,
        "writing": writing,
        "attention": attention,
    }


@pytest.mark.parametrize(
    ("ice_items", "extra", "expected"),
    [
        pytest.param(items(4, 3, 1, 1, 1), {}, 0, id="ICE items 4+3+1+1+1 = 10: grade 0"),
        pytest.param(items(3, 3, 1, 1, 1), {}, 1, id="ICE items 3+3+1+1+1 = 9: grade 1"),
        pytest.param(items(3, 3, 1, 0, 0), {}, 1, id="ICE items 3+3+1+0+0 = 7: grade 1"),
        pytest.param(items(2, 2, 1, 1, 0), {}, 2, id="ICE items 2+2+1+1+0 = 6: grade 2"),
        pytest.param(items(1, 1, 1, 0, 0), {}, 2, id="ICE items 1+1+1+0+0 = 3: grade 2"),
        pytest.param(items(1, 1, 0, 0, 0), {}, 3, id="ICE items 1+1+0+0+0 = 2: grade 3"),
        pytest.param(
            items(0, 0, 0, 0, 0),
            {"global_aphasia": True},
            3,
            id="R-ICANS-2 ICE items all 0, awake with global aphasia: grade 3",
        ),
        pytest.param(
            items(2, 2, 1, 1, 0),
            {"ice": 6},
            2,
            id="ICE items agreeing with the stated ICE 6: grade 2",
        ),
    ],
)
def test_ice_items_sum(
    normal_exam: dict[str, Any], ice_items: dict[str, int], extra: dict[str, Any], expected: int
) -> None:
    result = adult(normal_exam, consciousness="alert", ice_items=ice_items, **extra)
    assert_graded(result, expected)
    assert result.tool is NeuroTool.ICE


def test_ice_items_zero_unarousable_is_4(normal_exam: dict[str, Any]) -> None:
    assert_graded(
        adult(normal_exam, consciousness="unarousable", ice_items=items(0, 0, 0, 0, 0)), 4
    )


# --- Contradictions: refused, naming the field ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param(
            {"ice": 7, "capd": 3}, "capd", id="D6 ICE and CAPD in one assessment are refused"
        ),
        pytest.param(
            {"ice_items": items(4, 3, 1, 1, 1), "capd": 0},
            "capd",
            id="D6 ICE items and CAPD in one assessment are refused",
        ),
        pytest.param(
            {"ice": 7, "consciousness": "unarousable"},
            "ice",
            id="R-ICANS-2 ICE 7 while unarousable is refused",
        ),
        pytest.param(
            {"ice": 1, "consciousness": "unarousable"},
            "ice",
            id="R-ICANS-2 ICE 1 while unarousable is refused",
        ),
        pytest.param(
            {"capd": 5, "consciousness": "unarousable"},
            "capd",
            id="D7 CAPD while unarousable is refused (unable to perform)",
        ),
        pytest.param(
            {"ice": 9, "ice_items": items(4, 3, 1, 1, 1)},
            "ice",
            id="ICE stated differently from its items is refused",
        ),
    ],
)
def test_contradictions_are_refused(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        assessment_from_mapping(data)
    assert field in {e.field for e in caught.value.errors}, caught.value.errors
    with pytest.raises(InputError):
        Assessment(**data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"ice": 11}, id="ICE above 10 is refused"),
        pytest.param({"ice": -1}, id="ICE below 0 is refused"),
        pytest.param({"capd": 33}, id="CAPD above 32 is refused"),
        pytest.param({"ice_items": items(5, 3, 1, 1, 1)}, id="ICE orientation above 4 is refused"),
        pytest.param({"ice_items": items(4, 4, 1, 1, 1)}, id="ICE naming above 3 is refused"),
        pytest.param(
            {"tremor": True},
            id="R-ICANS-4 tremor is recorded as tremor_or_myoclonus; 'tremor' is refused",
        ),
    ],
)
def test_out_of_range_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(InputError) as caught:
        assessment_from_mapping(data)
    assert caught.value.errors
