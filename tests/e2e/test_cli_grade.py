"""``toxbot grade`` and ``toxbot --version`` as a user runs them: the installed console script in a
real subprocess (design §4).

Each run costs about 0.2 s, so runs are shared through module-scoped fixtures: nine in all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot import __version__
from grading import ENGINE_VERSION, parse_assessment
from tests.e2e.cli import ERROR_KEYS, Run, toxbot
from tests.unit.grading.clinical import NORMAL_NEURO_EXAM

# Design §2's example line, and the same assessment in design §4's JSON.
EXAMPLE_LINE = "temp=39.4 pressors=1 o2=nc:3 ice=7 loc=alert signs=none"
EXAMPLE_JSON: dict[str, Any] = {
    "temperature_c": 39.4,
    "vasopressors": 1,
    "oxygen": {"device": "nasal_cannula", "flow_l_min": 3.0},
    "ice": 7,
    "consciousness": "alert",
    **NORMAL_NEURO_EXAM,  # what signs=none records
}

# Design §4: what each side of the result carries.
SIDE_KEYS = {"grade", "range", "drivers", "missing", "excluded", "warnings"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run away from the checkout, so the installed script is what is tested."""
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def text_run(workdir: Path) -> Run:
    return toxbot("grade", "--text", EXAMPLE_LINE, cwd=workdir)


@pytest.fixture(scope="module")
def json_run(workdir: Path) -> Run:
    return toxbot("grade", "--compact", stdin=json.dumps(EXAMPLE_JSON), cwd=workdir)


@pytest.fixture(scope="module")
def bad_json_run(workdir: Path) -> Run:
    body = {"temperature_c": 50, "ice": 12, "sbp": 80, "oxygen": {"device": "tent"}}
    return toxbot("grade", stdin=json.dumps(body), cwd=workdir)


@pytest.fixture(scope="module")
def bad_text_run(workdir: Path) -> Run:
    return toxbot("grade", "--text", "temp=102.6 sbp=85 loc=drowsy", cwd=workdir)


# ---------------------------------------------------------------------------------------------
# --version


def test_version_prints_the_version_and_the_engine(workdir: Path) -> None:
    run = toxbot("--version", cwd=workdir)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"toxbot {__version__} ({ENGINE_VERSION})"


# ---------------------------------------------------------------------------------------------
# Grading the design's example line


@pytest.fixture(params=["text", "json"], ids=["text-flag", "json-stdin"])
def good_run(request: pytest.FixtureRequest, text_run: Run, json_run: Run) -> Run:
    return text_run if request.param == "text" else json_run


def test_grade_succeeds_quietly(good_run: Run) -> None:
    assert good_run.returncode == 0, good_run.stderr
    assert good_run.stderr == ""


def test_grade_gives_the_design_example_grades(good_run: Run) -> None:
    """Fever with one vasopressor is CRS 3 (the cannula is only grade 2); ICE 7 is ICANS 1."""
    result = good_run.json()
    assert result["crs"]["grade"] == 3
    assert result["crs"]["range"] is None
    assert result["icans"]["grade"] == 1
    assert result["icans"]["range"] is None
    assert result["icans"]["tool"] == "ice"
    assert result["engine"] == ENGINE_VERSION


def test_grade_output_has_every_key_of_design_4(good_run: Run) -> None:
    result = good_run.json()
    assert {"crs", "icans", "engine"} <= result.keys()
    for side in ("crs", "icans"):
        assert result[side].keys() >= SIDE_KEYS, side
        for key in ("drivers", "missing", "excluded", "warnings"):
            assert isinstance(result[side][key], list), (side, key)
    assert "tool" in result["icans"]


def test_grade_names_the_drivers_in_astct_words(good_run: Run) -> None:
    crs_drivers = good_run.json()["crs"]["drivers"]
    assert {driver["domain"] for driver in crs_drivers} >= {"hypotension"}
    assert all(driver["criterion"] for driver in crs_drivers)
    assert max(driver["grade"] for driver in crs_drivers) == 3


def test_json_on_stdin_grades_the_same_as_text(text_run: Run, json_run: Run) -> None:
    text_result, json_result = text_run.json(), json_run.json()
    assert json_result["crs"] == text_result["crs"]
    assert json_result["icans"] == text_result["icans"]


def test_the_example_json_is_the_example_line() -> None:
    """Guards the comparison above: both inputs are the same assessment."""
    parsed = parse_assessment(EXAMPLE_LINE).assessment
    assert parsed.model_dump(mode="json", exclude_unset=True) == EXAMPLE_JSON


def test_text_grading_echoes_every_interpretation(text_run: Run) -> None:
    interpretations = text_run.json()["interpretations"]
    assert [said.split("=", 1)[0] for said in interpretations] == [
        token.split("=", 1)[0] for token in EXAMPLE_LINE.split()
    ]


def test_compact_prints_one_line(json_run: Run) -> None:
    assert json_run.stdout.count("\n") == 1


def test_stated_grades_and_time_are_reported(workdir: Path) -> None:
    run = toxbot(
        "grade",
        "--text",
        f"{EXAMPLE_LINE} stated=crs2,icans1 at=2026-11-23T14:30+01:00",
        cwd=workdir,
    )
    assert run.returncode == 0, run.stderr
    result = run.json()
    (mismatch,) = result["stated_mismatches"]
    assert "Stated CRS grade 2" in mismatch
    assert "computed CRS grade 3" in mismatch
    assert result["at"] == "2026-11-23T14:30:00+01:00"


# ---------------------------------------------------------------------------------------------
# Invalid input: exit 2, every bad field named on stdout (JSON) and on stderr (one line each)


def test_invalid_json_fields_exit_2(bad_json_run: Run) -> None:
    assert bad_json_run.returncode == 2


def test_invalid_json_fields_are_each_named_in_json(bad_json_run: Run) -> None:
    document = bad_json_run.json()
    assert set(document) == {"errors"}
    errors = document["errors"]
    assert sorted(error["field"] for error in errors) == [
        "ice",
        "oxygen.device",
        "sbp",
        "temperature_c",
    ]
    for error in errors:
        assert error.keys() >= ERROR_KEYS
        assert error["problem"], error
        assert error["accepted"], error
    by_field = {error["field"]: error for error in errors}
    assert by_field["temperature_c"]["value"] == "50"
    assert "30" in by_field["temperature_c"]["accepted"]
    assert "R-CRS-7" in by_field["sbp"]["problem"]


def test_invalid_json_fields_each_get_a_readable_stderr_line(bad_json_run: Run) -> None:
    lines = bad_json_run.error_lines()
    assert len(lines) == 4
    for field in ("temperature_c=50", "ice=12", "sbp=80", "oxygen.device=tent"):
        assert sum(field in line for line in lines) == 1, (field, lines)
    assert all(line.startswith("toxbot grade: error: ") for line in lines)
    assert all("Accepted:" in line for line in lines)


def test_invalid_text_exits_2_naming_each_field(bad_text_run: Run) -> None:
    assert bad_text_run.returncode == 2
    errors = bad_text_run.json()["errors"]
    assert [(error["field"], error["value"]) for error in errors] == [
        ("temp", "102.6"),
        ("sbp", "85"),
        ("loc", "drowsy"),
    ]
    lines = bad_text_run.error_lines()
    assert len(lines) == 3
    assert "temp=102.6F" in lines[0], "the Fahrenheit hint reaches the user"


@pytest.mark.parametrize(
    ("body", "value"),
    [
        pytest.param('[{"temperature_c": 39}]', "list", id="json-array"),
        pytest.param("temp=39 o2=nc:4", "", id="not-json-at-all"),
    ],
)
def test_a_body_that_is_not_a_json_object_exits_2(workdir: Path, body: str, value: str) -> None:
    run = toxbot("grade", stdin=body, cwd=workdir)
    assert run.returncode == 2
    (error,) = run.json()["errors"]
    assert (error["field"], error["value"]) == ("input", value)
    assert "JSON object" in error["accepted"]
    assert len(run.error_lines()) == 1


def test_a_huge_fahrenheit_value_is_invalid_input_not_a_crash(workdir: Path) -> None:
    run = toxbot("grade", "--text", "temp=" + "9" * 30 + "F", cwd=workdir)
    assert run.returncode == 2, run.stderr
    assert run.json()["errors"][0]["field"] == "temp"
