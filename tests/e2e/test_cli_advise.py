"""``toxbot advise`` as a user runs it: a case's history as JSON on stdin, the advice as JSON on
stdout (issue 3), through the installed console script in a real subprocess.

Four runs in all, shared through module-scoped fixtures: a refractory CRS case (twice, to show
the output is the same), a case with bad fields, and a case with a timestamp without a zone.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import grading
from tests.e2e.cli import Run, toxbot
from tests.unit.grading.clinical import NORMAL_NEURO_EXAM

DEFAULT_YAML = Path(grading.__file__).parent / "protocols" / "default.yaml"

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def at(hours: float) -> str:
    """``hours`` after T0 (08:00 UTC on 20 Nov 2026), as ISO 8601 with its offset."""
    return (T0 + timedelta(hours=hours)).isoformat()


ROOM_AIR = {"device": "room_air"}
CRS_2 = {
    "temperature_c": 39.0,
    "hypotension": True,
    "vasopressors": 0,
    "vasopressin": False,
    "oxygen": ROOM_AIR,
}
NO_ICANS = {"ice": 10, "consciousness": "alert", **NORMAL_NEURO_EXAM}

# CRS 2 from 0 h, tocilizumab at 0.5 h and 8.5 h, dexamethasone 10 mg q6h from 9 h; still CRS 2
# at 25 h, 24.5 h after the first tocilizumab: refractory CRS (D14).
REFRACTORY_CRS: dict[str, Any] = {
    "patient": {"age_years": 60, "weight_kg": 80, "product": "tisa-cel", "infused_at": at(-72)},
    "assessments": [{"at": at(h), **CRS_2, **NO_ICANS} for h in (0, 8, 16, 25)],
    "doses": [
        {"at": at(0.5), "drug": "tocilizumab", "dose_mg": 640, "route": "iv"},
        {"at": at(8.5), "drug": "tocilizumab", "dose_mg": 640, "route": "iv"},
        *(
            {"at": at(h), "drug": "dexamethasone", "dose_mg": 10, "route": "iv"}
            for h in (9, 15, 21)
        ),
    ],
    "labs": [{"at": at(1), "analyte": "ferritin", "value": 900, "unit": "ng/mL"}],
    "now": at(25),
}

OUTPUT_KEYS = {
    "crs",
    "icans",
    "refractory",
    "tocilizumab",
    "steroids",
    "recommendations",
    "next_reassessment",
    "protocol",
    "warnings",
}


def advise(case: dict[str, Any], cwd: Path) -> Run:
    """Run ``toxbot advise`` with ``case`` on stdin, under the built-in default protocol."""
    if not DEFAULT_YAML.exists():
        pytest.skip(f"the default protocol {DEFAULT_YAML} has not landed yet")
    env = {key: value for key, value in os.environ.items() if key != "TOXBOT_PROTOCOL"}
    return toxbot("advise", stdin=json.dumps(case), cwd=cwd, env=env)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run away from the checkout, so the installed script and its packaged protocol are tested."""
    return tmp_path_factory.mktemp("cli-advise")


@pytest.fixture(scope="module")
def valid_run(workdir: Path) -> Run:
    return advise(REFRACTORY_CRS, workdir)


@pytest.fixture(scope="module")
def repeated_run(workdir: Path) -> Run:
    return advise(REFRACTORY_CRS, workdir)


@pytest.fixture(scope="module")
def bad_fields_run(workdir: Path) -> Run:
    case = copy.deepcopy(REFRACTORY_CRS)
    case["assessments"][1]["temperature_c"] = 50  # outside 30-45 °C
    case["doses"][0]["drug"] = "aspirin"  # not a drug the engine counts
    case["patient"]["weight_kg"] = -3
    return advise(case, workdir)


@pytest.fixture(scope="module")
def naive_time_run(workdir: Path) -> Run:
    case = copy.deepcopy(REFRACTORY_CRS)
    case["now"] = "2026-11-21T09:00:00"  # no offset: which 09:00?
    return advise(case, workdir)


def test_a_valid_case_prints_the_advice(valid_run: Run) -> None:
    assert valid_run.returncode == 0, valid_run.stderr
    advice = valid_run.json()
    assert advice.keys() >= OUTPUT_KEYS

    assert advice["refractory"]["crs"] is True
    assert advice["refractory"]["icans"] is False
    assert advice["refractory"]["reasons"]
    assert advice["tocilizumab"]["doses_total"] == 2
    assert advice["steroids"]["dexamethasone_equivalent_mg"] == pytest.approx(30)
    assert advice["protocol"]["approved"] is False
    assert advice["crs"]["grade"] == 2
    assert advice["icans"]["grade"] == 0
    # Refractory: vitals every hour, the neuro screen every 2 h (§0.1), from the 25 h assessment.
    next_due = advice["next_reassessment"]
    assert datetime.fromisoformat(next_due["vitals_at"]) == datetime.fromisoformat(at(26))
    assert datetime.fromisoformat(next_due["neuro_at"]) == datetime.fromisoformat(at(27))

    given = [r["id"] for r in advice["recommendations"]]
    assert {"refractory-infection", "refractory-iec-hs", "refractory-review"} <= set(given), given
    assert {"ladder-dexamethasone-20", "ladder-anakinra-adult"} <= set(given), given
    for r in advice["recommendations"]:
        assert r["text"].startswith(("Consider", "Not offered")), r
        assert r["citation"], r


def test_the_same_case_gives_the_same_output(valid_run: Run, repeated_run: Run) -> None:
    assert repeated_run.returncode == valid_run.returncode == 0
    assert repeated_run.stdout == valid_run.stdout


def test_bad_fields_exit_2_naming_each_field(bad_fields_run: Run) -> None:
    assert bad_fields_run.returncode == 2
    fields = bad_fields_run.error_fields()
    assert any("temperature_c" in f and "assessments" in f for f in fields), fields
    assert any("drug" in f and "doses" in f for f in fields), fields
    assert any("weight_kg" in f and "patient" in f for f in fields), fields
    assert set(bad_fields_run.json()) == {"errors"}, "no advice from a case with bad fields"
    assert len(bad_fields_run.stderr.strip().splitlines()) == len(fields), "one line per error"


def test_a_timestamp_without_a_zone_is_refused(naive_time_run: Run) -> None:
    assert naive_time_run.returncode == 2
    fields = naive_time_run.error_fields()
    assert any(f.split(".")[-1] == "now" for f in fields), fields
    assert set(naive_time_run.json()) == {"errors"}
    assert "now" in naive_time_run.stderr
