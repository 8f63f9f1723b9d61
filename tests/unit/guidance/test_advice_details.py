"""Details of the advice beyond the issue's timelines: re-review times, overdue grades, the
IEC-HS lab screen's units, doses without a weight, and the README's example case."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.protocol_files import load_protocol
from grading.case import CaseHistory, Lab, Patient, TimedAssessment, advise_request_from_json
from grading.guidance import advice_as_dict, advise, iec_hs_screen
from grading.protocol import Protocol
from grading.state import derive_state
from tests.unit.grading.clinical import NORMAL_NEURO_EXAM

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "refractory-crs.json"


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol()


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def crs2_assessment(hours: float, **extra: Any) -> TimedAssessment:
    return TimedAssessment.model_validate(
        {
            "at": at(hours),
            "temperature_c": 39.0,
            "hypotension": True,
            "vasopressors": 0,
            "vasopressin": False,
            "oxygen": {"device": "room_air"},
            "ice": 10,
            "consciousness": "alert",
            **NORMAL_NEURO_EXAM,
            **extra,
        }
    )


def lab(analyte: str, value: float, unit: str, hours: float = 0) -> Lab:
    return Lab.model_validate({"at": at(hours), "analyte": analyte, "value": value, "unit": unit})


def test_d16_refractory_flag_schedules_clinician_reviews_at_12_and_24_h(
    protocol: Protocol,
) -> None:
    request = advise_request_from_json(EXAMPLE.read_text())
    state = derive_state(request.history, protocol, request.now)
    assert state.refractory.crs
    upcoming = advise(state, protocol, request.now).next_reassessment
    flagged = state.assessments[-1].at
    assert upcoming.reviews_at == (flagged + timedelta(hours=12), flagged + timedelta(hours=24))
    assert upcoming.basis.startswith("refractory")


def test_a_grade_older_than_the_cadence_allows_is_called_overdue(protocol: Protocol) -> None:
    history = CaseHistory(
        patient=Patient(age_years=50, weight_kg=70), assessments=(crs2_assessment(0),)
    )
    advice = advise(derive_state(history, protocol, at(5)), protocol, at(5))
    overdue = [w for w in advice.warnings if "overdue" in w]
    # CRS 2: vitals every 2 h and the neuro screen every 4 h (§0.1); 5 h later both are late.
    assert len(overdue) == 2, advice.warnings
    assert "3.0 h overdue" in overdue[0]
    assert "1.0 h overdue" in overdue[1]


def test_nothing_is_overdue_inside_the_interval(protocol: Protocol) -> None:
    history = CaseHistory(
        patient=Patient(age_years=50, weight_kg=70), assessments=(crs2_assessment(0),)
    )
    advice = advise(derive_state(history, protocol, at(1)), protocol, at(1))
    assert not [w for w in advice.warnings if "overdue" in w]


@pytest.mark.parametrize(
    ("labs", "positive"),
    [
        pytest.param(
            [lab("ferritin", 900, "ng/mL"), lab("fibrinogen", 120, "mg/dL")],
            True,
            id="ferritin over 2x ULN with low fibrinogen",
        ),
        pytest.param([lab("ferritin", 900, "ng/mL")], False, id="ferritin alone is not enough"),
        pytest.param(
            [
                lab("ferritin", 300, "ng/mL", -40),
                lab("ferritin", 700, "ng/mL"),
                lab("platelets", 30, "10^9/L"),
            ],
            True,
            id="ferritin more than doubled within 48 h with low platelets",
        ),
        pytest.param(
            [lab("ferritin", 900, "mg/L"), lab("fibrinogen", 120, "mg/dL")],
            False,
            id="ferritin in an unexpected unit is not read, never converted",
        ),
    ],
)
def test_iec_hs_screen(labs: list[Lab], positive: bool, protocol: Protocol) -> None:
    """§5.1 [UNVERIFIED]: ferritin high or rising fast plus one more HLH-like feature."""
    assert (iec_hs_screen(labs, protocol.iec_hs) is not None) is positive


def test_iec_hs_recommendation_is_marked_unverified(protocol: Protocol) -> None:
    history = CaseHistory(
        patient=Patient(age_years=50, weight_kg=70),
        assessments=(crs2_assessment(0),),
        labs=(lab("ferritin", 5000, "ng/mL"), lab("alt", 400, "U/L")),
    )
    advice = advise(derive_state(history, protocol, at(1)), protocol, at(1))
    screen = next(r for r in advice.recommendations if r.id == "iec-hs-screen")
    assert screen.unverified
    assert screen.text.startswith("[UNVERIFIED] Consider, per protocol:")
    assert screen.references


def test_without_a_weight_no_dose_is_guessed(protocol: Protocol) -> None:
    history = CaseHistory(patient=Patient(age_years=50), assessments=(crs2_assessment(0),))
    advice = advise(derive_state(history, protocol, at(1)), protocol, at(1))
    tocilizumab = next(r for r in advice.recommendations if r.id == "crs-tocilizumab")
    assert tocilizumab.dose is not None
    assert tocilizumab.dose.mg is None
    assert not tocilizumab.available
    assert "weight" in (tocilizumab.availability or "")
    assert not advice.tocilizumab.offered
    assert any("Weight not recorded" in w for w in advice.warnings)


def test_the_readme_example_runs_as_a_user_runs_it() -> None:
    toxbot = Path(sys.executable).parent / "toxbot"
    run = subprocess.run(
        [str(toxbot), "advise"],
        input=EXAMPLE.read_text(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["refractory"]["crs"] is True
    assert out["crs"]["grade"] == 2
    assert out["banner"]
    rungs = [r["id"] for r in out["recommendations"] if r["kind"] == "ladder"]
    differential = [r["id"] for r in out["recommendations"] if r["kind"] == "differential"]
    ids = [r["id"] for r in out["recommendations"]]
    assert max(ids.index(d) for d in differential) < min(ids.index(r) for r in rungs)
    assert out == advice_as_dict(_advice_for(EXAMPLE)), "the CLI prints the engine's advice"


def _advice_for(path: Path) -> Any:
    request = advise_request_from_json(path.read_text())
    protocol = load_protocol()
    return advise(derive_state(request.history, protocol, request.now), protocol, request.now)


def _tocilizumab_at(*hours: float) -> tuple[Any, ...]:
    from grading.case import Dose

    return tuple(
        Dose.model_validate({"at": at(h), "drug": "tocilizumab", "dose_mg": 560, "route": "iv"})
        for h in hours
    )


def test_d14_the_24_hour_cap_alone_does_not_make_crs_refractory(protocol: Protocol) -> None:
    """Three doses in 24 h and CRS 2 at 20 h, no steroids: the cap lifts at 24 h, not refractory."""
    history = CaseHistory(
        patient=Patient(age_years=50, weight_kg=70),
        assessments=(crs2_assessment(0), crs2_assessment(20)),
        doses=_tocilizumab_at(0.5, 8.5, 16.5),
    )
    state = derive_state(history, protocol, at(20))
    assert state.tocilizumab.limit_reached
    assert not state.refractory.crs, state.refractory.reasons


def test_d14_crs_persisting_after_the_total_limit_is_refractory(protocol: Protocol) -> None:
    history = CaseHistory(
        patient=Patient(age_years=50, weight_kg=70),
        assessments=(crs2_assessment(0), crs2_assessment(26)),
        doses=_tocilizumab_at(0.5, 8.5, 16.5, 25),
    )
    state = derive_state(history, protocol, at(26))
    assert state.refractory.crs
    assert any("limit reached" in reason for reason in state.refractory.reasons)
