"""The rule catalogue: every rule the core cites exists, and every rule cites a known source.

A clinician reading a grade follows finding -> rule id -> RULES -> source tag -> SOURCES; any
broken link in that chain leaves a grade without its justification.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from grading import RULES, SOURCES, Assessment, GradingResult, InputError, grade
from tests.unit.grading.clinical import NORMAL_NEURO_EXAM

# Rule ids the clinical reference defines and the grading core applies (§0, §1.3, §2.4).
# D12 (grade 5 on case closure) and D14-D19 (protocol, guidance, wording) are not grading-core
# rules; they live outside this package.
REFERENCE_RULE_IDS = (
    *(f"R-CRS-{n}" for n in range(1, 10)),
    *(f"R-ICANS-{n}" for n in range(1, 8)),
    *(f"D{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13)),
)

_CRS_GRID: dict[str, list[dict[str, Any]]] = {
    "temperature": [{}, {"temperature_c": 37.0}, {"temperature_c": 38.0}],
    "treated": [{}, {"prior_crs_treatment": True}],
    "pressure": [
        {},
        {"hypotension": False},
        {"hypotension": True},
        {"vasopressors": 1},
        {"vasopressors": 2},
        {"vasopressin": True},
        {"hypotension": True, "vasopressors": 0, "vasopressin": False},
        {"vasopressors": 1, "vasopressin": True},
    ],
    "oxygen": [
        {},
        {"oxygen": {"device": "room_air"}},
        {"oxygen": {"device": "nasal_cannula"}},
        {"oxygen": {"device": "nasal_cannula", "flow_l_min": 4}},
        {"oxygen": {"device": "nasal_cannula", "flow_l_min": 8}},
        {"oxygen": {"device": "high_flow_nasal_cannula"}},
        {"oxygen": {"device": "high_flow_nasal_cannula", "flow_l_min": 5}},
        {"oxygen": {"device": "blow_by"}},
        {"oxygen": {"device": "face_mask"}},
        {"oxygen": {"device": "cpap"}},
    ],
    "context": [{}, {"weight_kg": 8.0, "days_since_infusion": 20}],
    "attributed": [{}, {"attributed_elsewhere": {"fever", "hypotension", "hypoxia"}}],
}

_NORMAL = dict(NORMAL_NEURO_EXAM)

_ICANS_GRID: dict[str, list[dict[str, Any]]] = {
    "screen": [
        {},
        {"ice": 10},
        {"ice": 5},
        {"ice": 0},
        {"ice": 0, "global_aphasia": True},
        {"ice": 6, "global_aphasia": True},
        {"ice_items": {"orientation": 2, "naming": 2, "commands": 1, "writing": 1, "attention": 1}},
        {"capd": 0},
        {"capd": 5},
        {"capd": 4, "baseline_capd": 4},
        {"capd": 12},
    ],
    "consciousness": [
        {},
        *(
            {"consciousness": level}
            for level in (
                "alert",
                "awakens_spontaneously",
                "awakens_to_voice",
                "awakens_to_tactile",
                "unarousable",
            )
        ),
    ],
    "exam": [
        {},
        _NORMAL,
        {**_NORMAL, "seizure": "rapid_resolution"},
        {**_NORMAL, "seizure": "prolonged_or_repetitive", "motor_weakness": True},
        {"cerebral_edema": "focal"},
        {**_NORMAL, "cerebral_edema": "diffuse", "cn6_palsy": True},
    ],
    "never_graded": [{}, {"tremor_or_myoclonus": True, "intracranial_hemorrhage": True}],
    "age": [{}, {"age_years": 8}, {"age_years": 15}],
    "attributed": [
        {},
        {"attributed_elsewhere": {"ice", "capd", "consciousness"}},
        {"attributed_elsewhere": {"ice", "capd", "consciousness", "seizure", "motor", "edema"}},
    ],
}


def _grid(axes: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for parts in itertools.product(*axes.values()):
        fields: dict[str, Any] = {}
        for part in parts:
            fields.update(part)
        yield fields


def _sweep() -> list[tuple[dict[str, Any], GradingResult]]:
    results = []
    for fields in itertools.chain(_grid(_CRS_GRID), _grid(_ICANS_GRID)):
        try:
            assessment = Assessment(**fields)
        except InputError:
            continue  # contradictory combinations are refused, and tested elsewhere
        results.append((fields, grade(assessment)))
    return results


@pytest.fixture(scope="module")
def sweep() -> list[tuple[dict[str, Any], GradingResult]]:
    results = _sweep()
    assert len(results) > 1000
    return results


def test_every_rule_in_a_finding_or_exclusion_is_catalogued(sweep) -> None:
    cited: dict[str, dict[str, Any]] = {}
    for fields, result in sweep:
        for side in (result.crs, result.icans):
            for finding in (*side.findings, *side.drivers):
                cited.setdefault(finding.rule, fields)
            for exclusion in side.excluded:
                cited.setdefault(exclusion.rule, fields)
    unknown = {rule: fields for rule, fields in cited.items() if rule not in RULES}
    assert not unknown, unknown
    # The sweep reaches the rules it is meant to exercise.
    assert {
        "R-CRS-1",
        "R-CRS-4",
        "R-CRS-5",
        "R-CRS-7",
        "D1",
        "D3",
        "D9",
        "R-ICANS-1",
        "R-ICANS-2",
        "R-ICANS-3",
        "R-ICANS-4",
        "R-ICANS-5",
        "R-ICANS-6",
        "D7",
        "D8",
        "ICE",
        "CAPD",
    } <= set(cited)


def test_every_warning_starts_with_a_catalogued_rule_id(sweep) -> None:
    """Warnings are "<rule id>: text" so each one can be traced to its rule."""
    pattern = re.compile(r"^([A-Z][A-Z0-9-]*):\s")
    offending: dict[str, dict[str, Any]] = {}
    for fields, result in sweep:
        for side in (result.crs, result.icans):
            for warning in side.warnings:
                match = pattern.match(warning)
                if match is None or match.group(1) not in RULES:
                    offending.setdefault(warning, fields)
    assert not offending, offending


def test_json_form_resolves_every_citation(sweep) -> None:
    for _fields, result in sweep:
        out = result.as_dict()
        for side in ("crs", "icans"):
            for item in (*out[side]["findings"], *out[side]["drivers"], *out[side]["excluded"]):
                assert item["citation"].startswith(item["rule"] + " [")


@pytest.mark.parametrize("rule_id", REFERENCE_RULE_IDS)
def test_reference_rule_is_catalogued(rule_id: str) -> None:
    assert rule_id in RULES
    assert RULES[rule_id].text.strip()


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_sources_resolve(rule_id: str) -> None:
    rule = RULES[rule_id]
    assert rule.id == rule_id
    assert rule.sources, f"{rule_id} cites no source"
    unknown = [tag for tag in rule.sources if tag not in SOURCES]
    assert not unknown, f"{rule_id} cites unknown sources {unknown}"
    assert rule.citation == rule_id + " " + "".join(f"[{tag}]" for tag in rule.sources)


@pytest.mark.parametrize("tag", sorted(SOURCES))
def test_source_has_a_reference(tag: str) -> None:
    assert SOURCES[tag].strip()


def test_astct_rules_cite_published_sources_not_only_product_decisions() -> None:
    """R-CRS/R-ICANS rules come from ASTCT and its reproductions; only Dx cite TOXBOT-D."""
    for rule_id, rule in RULES.items():
        if rule_id.startswith(("R-CRS-", "R-ICANS-")):
            assert "TOXBOT-D" not in rule.sources, rule_id
            assert any(tag.startswith("S") for tag in rule.sources), rule_id
        if re.fullmatch(r"D\d+", rule_id):
            assert "TOXBOT-D" in rule.sources, rule_id
