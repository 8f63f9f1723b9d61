"""The default protocol file, the protocol schema's errors, ``differences`` and ``load_protocol``.

The default protocol (``grading/protocols/default.yaml``) is clinical content: these tests pin
what the guidance engine relies on (step ids, kinds and conditions, in order), that every
citation resolves to a full reference, and that every step is worded as decision support (D19).
Each broken-file test edits one thing in the default and asserts the path the error names, since
that path is what an institution's editor acts on.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from bot.protocol_files import (
    PROTOCOL_ENV,
    active_protocol_source,
    default_protocol_text,
    load_protocol,
)
from grading.errors import FieldError
from grading.protocol import (
    Cadence,
    CadenceRow,
    Drugs,
    Escalation,
    IecHsScreen,
    Protocol,
    ProtocolError,
    Refractory,
    RefractoryCrs,
    RefractoryIcans,
    StepKind,
    SteroidRule,
    TocilizumabRule,
    differences,
    parse_protocol,
    protocol_from_mapping,
)

DEFAULT_TEXT = default_protocol_text()
DEFAULT = parse_protocol(DEFAULT_TEXT)

_PRODUCTS = (
    "axi-cel",
    "brexu-cel",
    "yescarta",
    "tecartus",
    "axicabtagene-ciloleucel",
    "brexucabtagene-autoleucel",
)
_ALL = (1, 2, 3, 4)
_ANY = {"refractory": "any"}
# Doses as (drug, mg, mg_per_kg, max_mg).
_TOCI = ("tocilizumab", None, None, None)
_DEX10 = ("dexamethasone", 10, None, None)
_MP500 = ("methylprednisolone", 500, None, None)
_MP1G = ("methylprednisolone", 1000, None, None)


def _crs(*grades: int, **more: Any) -> dict[str, Any]:
    return {"crs_grades": grades, **more}


def _icans(*grades: int, **more: Any) -> dict[str, Any]:
    return {"icans_grades": grades, **more}


# The steps the guidance engine and its tests rely on, in protocol order: (id, toxicity, kind,
# the conditions given in `when`, the dose). Steps added beyond this list may sit between them.
EXPECTED_STEPS: tuple[tuple[str, str, str, dict[str, Any], tuple[Any, ...] | None], ...] = (
    ("crs-workup", "crs", "workup", _crs(*_ALL), None),
    ("crs-g1-supportive", "crs", "treatment", _crs(1), None),
    ("crs-g1-prolonged-fever", "crs", "treatment", _crs(1, crs_min_hours_since_onset=72.0), _TOCI),
    ("crs-tocilizumab", "crs", "treatment", _crs(2, 3, 4), _TOCI),
    ("crs-g2-dexamethasone", "crs", "treatment", _crs(2), _DEX10),
    ("crs-telemetry", "crs", "monitoring", _crs(2, 3, 4), None),
    ("crs-g3-icu", "crs", "consult", _crs(3, 4), None),
    ("crs-g3-dexamethasone", "crs", "treatment", _crs(3), _DEX10),
    ("crs-g4-methylprednisolone", "crs", "treatment", _crs(4), _MP500),
    ("crs-steroid-antifungal", "crs", "treatment", _crs(*_ALL, on_corticosteroids=True), None),
    ("icans-workup", "icans", "workup", _icans(*_ALL), None),
    ("icans-neurology-consult", "icans", "consult", _icans(*_ALL), None),
    ("icans-g2-imaging-eeg", "icans", "workup", _icans(2, 3, 4), None),
    ("icans-seizure-prophylaxis", "icans", "treatment", _icans(*_ALL), None),
    (
        "icans-no-tocilizumab-without-crs",
        "icans",
        "caution",
        _icans(*_ALL, concurrent_crs=False),
        None,
    ),
    ("icans-tocilizumab-with-crs", "icans", "treatment", _icans(*_ALL, concurrent_crs=True), _TOCI),
    ("icans-g2-dexamethasone", "icans", "treatment", _icans(2), _DEX10),
    ("icans-g3-icu", "icans", "consult", _icans(3, 4), None),
    ("icans-g3-dexamethasone", "icans", "treatment", _icans(3), _DEX10),
    ("icans-g4-methylprednisolone", "icans", "treatment", _icans(4), _MP1G),
    ("icans-g4-seizure-edema", "icans", "treatment", _icans(4), None),
    ("icans-g4-airway", "icans", "consult", _icans(4), None),
    ("icans-steroid-taper", "icans", "monitoring", _icans(*_ALL), None),
    ("product-early-steroids-crs", "crs", "product_note", _crs(*_ALL, products=_PRODUCTS), None),
    (
        "product-early-steroids-icans",
        "icans",
        "product_note",
        _icans(*_ALL, products=_PRODUCTS),
        None,
    ),
    ("refractory-infection", "crs", "differential", _ANY, None),
    ("refractory-iec-hs", "crs", "differential", _ANY, None),
    ("refractory-neuro-mimics", "icans", "differential", {"refractory": "icans"}, None),
    ("ladder-dexamethasone-20", "crs", "ladder", _ANY, ("dexamethasone", 20, None, None)),
    ("ladder-methylprednisolone-1g", "crs", "ladder", _ANY, _MP1G),
    (
        "ladder-anakinra-adult",
        "crs",
        "ladder",
        {**_ANY, "min_weight_kg": 40},
        ("anakinra", 200, None, None),
    ),
    (
        "ladder-anakinra-child",
        "crs",
        "ladder",
        {**_ANY, "max_weight_kg": 40},
        ("anakinra", None, 2, 100),
    ),
    ("ladder-siltuximab", "crs", "ladder", _ANY, ("siltuximab", None, 11, None)),
    ("ladder-other-agents", "crs", "ladder", _ANY, None),
    ("ladder-intrathecal", "icans", "ladder", {"refractory": "icans"}, None),
    ("refractory-review", "crs", "monitoring", _ANY, None),
)

# Openings that make a sentence an order rather than decision support (D19). Wider than the
# schema's check, which looks only at the start of the text.
_ORDER = re.compile(
    r"^(give|start|administer|begin|order|stop|increase|inject|infuse|must|repeat|use|avoid|"
    r"send|obtain|transfer|admit|check|call|taper|escalate|treat|continue|hold|consult)\b",
    re.IGNORECASE,
)


def default_data() -> dict[str, Any]:
    """A fresh, editable copy of the default protocol's decoded YAML."""
    data = yaml.safe_load(DEFAULT_TEXT)
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def step_index(data: dict[str, Any], step_id: str) -> int:
    return next(i for i, step in enumerate(data["steps"]) if step["id"] == step_id)


def errors_after(edit: Callable[[dict[str, Any]], None]) -> tuple[FieldError, ...]:
    """The errors the schema reports for the default protocol with one edit."""
    data = default_data()
    edit(data)
    with pytest.raises(ProtocolError) as raised:
        protocol_from_mapping(data)
    return raised.value.errors


def the_error(errors: tuple[FieldError, ...]) -> FieldError:
    assert len(errors) == 1, [error.message() for error in errors]
    return errors[0]


def citations(protocol: Protocol) -> Iterator[str]:
    """Every citation in the protocol, wherever it appears."""
    yield from protocol.drugs.tocilizumab.citation
    yield from protocol.drugs.corticosteroids.citation
    for step in protocol.steps:
        yield from step.citation
    yield from protocol.refractory.crs.citation
    yield from protocol.refractory.icans.citation
    cadence = protocol.cadence
    for row in (cadence.no_toxicity, cadence.grade_1, cadence.grade_3, cadence.refractory):
        yield from row.citation
    yield from protocol.iec_hs.citation


# ---------------------------------------------------------------------------------------------
# The default protocol


def test_the_default_protocol_loads_unapproved() -> None:
    assert (DEFAULT.id, DEFAULT.version, DEFAULT.effective.isoformat()) == (
        "toxbot-default",
        "2026.1",
        "2026-11-01",
    )
    assert not DEFAULT.approval.approved
    assert DEFAULT.label == "toxbot-default 2026.1 (UNAPPROVED)"
    assert load_protocol(environ={}) == DEFAULT


def test_every_citation_resolves_to_a_full_reference() -> None:
    cited = list(citations(DEFAULT))
    assert cited
    for citation in cited:
        reference = DEFAULT.reference(citation)
        if citation.startswith("TOXBOT-D"):
            assert reference == "toxbot clinical reference, §0 product decisions"
        else:
            assert "http" in reference, (citation, reference)
            assert len(reference) > 40, (citation, reference)


def test_every_source_is_cited() -> None:
    """No dead entries: each reference listed is one a step, a rule or the cadence cites."""
    assert {citation.split()[0] for citation in citations(DEFAULT)} == set(DEFAULT.sources)


@pytest.mark.parametrize("step", DEFAULT.steps, ids=[step.id for step in DEFAULT.steps])
def test_every_step_is_decision_support_not_an_order(step: Any) -> None:
    """D19: "Consider, per protocol:" (or "Not offered, per protocol:" for a caution)."""
    prefix = (
        "Not offered, per protocol:" if step.kind is StepKind.CAUTION else "Consider, per protocol:"
    )
    assert step.text.startswith(prefix), step.text
    for sentence in re.split(r"(?<=[.;:])\s+", step.text):
        assert not _ORDER.match(sentence), sentence


def test_unverified_steps_say_so_and_only_they_do() -> None:
    for step in DEFAULT.steps:
        assert step.unverified == ("[UNVERIFIED]" in step.text), step.id
    flagged = {step.id for step in DEFAULT.steps if step.unverified}
    assert {"refractory-iec-hs", "crs-g2-dexamethasone"} <= flagged


def test_the_grade_4_icans_steps_say_ascos_page_is_not_confirmed() -> None:
    steps = {step.id: step for step in DEFAULT.steps}
    for step_id in ("icans-g4-methylprednisolone", "icans-g4-airway"):
        assert "(ASCO's grade-4 ICANS page not confirmed)" in steps[step_id].text


def test_the_steps_the_engine_relies_on_exist_in_order_with_their_conditions() -> None:
    steps = {step.id: step for step in DEFAULT.steps}
    order = [step.id for step in DEFAULT.steps]
    expected_ids = [entry[0] for entry in EXPECTED_STEPS]
    assert set(expected_ids) <= set(steps), sorted(set(expected_ids) - set(steps))
    assert [i for i in order if i in set(expected_ids)] == expected_ids

    for step_id, toxicity, kind, when, dose in EXPECTED_STEPS:
        step = steps[step_id]
        assert (step.toxicity, step.kind) == (toxicity, kind), step_id
        assert step.when.model_dump(exclude_none=True) == when, step_id
        got = (
            None
            if step.dose is None
            else (step.dose.drug, step.dose.mg, step.dose.mg_per_kg, step.dose.max_mg)
        )
        assert got == dose, step_id


def test_the_ladder_follows_the_differential() -> None:
    kinds = [step.kind for step in DEFAULT.steps]
    last_differential = max(i for i, kind in enumerate(kinds) if kind is StepKind.DIFFERENTIAL)
    first_rung = min(i for i, kind in enumerate(kinds) if kind is StepKind.LADDER)
    assert last_differential < first_rung


def test_every_knob_is_at_the_schema_default() -> None:
    assert DEFAULT.drugs == Drugs()
    assert DEFAULT.refractory == Refractory()
    assert DEFAULT.escalation == Escalation()
    assert DEFAULT.iec_hs == IecHsScreen()


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("drugs", Drugs),
        ("drugs.tocilizumab", TocilizumabRule),
        ("drugs.corticosteroids", SteroidRule),
        ("refractory", Refractory),
        ("refractory.crs", RefractoryCrs),
        ("refractory.icans", RefractoryIcans),
        ("cadence", Cadence),
        ("cadence.no_toxicity", CadenceRow),
        ("escalation", Escalation),
        ("iec_hs", IecHsScreen),
    ],
)
def test_every_knob_is_spelt_out_in_the_file(path: str, model: type[BaseModel]) -> None:
    """An institution editing the file sees every setting, not only those that differ."""
    block: Any = default_data()
    for key in path.split("."):
        block = block[key]
    assert set(block) == set(model.model_fields), path


def test_the_cadence_is_section_0_1() -> None:
    cadence = DEFAULT.cadence
    rows = (cadence.no_toxicity, cadence.grade_1, cadence.grade_3, cadence.refractory)
    assert [(row.vitals_h, row.neuro_h) for row in rows] == [(4, 12), (2, 4), (1, 2), (1, 2)]
    assert cadence.monitoring_days == 14
    assert (cadence.first_icans_sign_neuro_min, cadence.first_icans_sign_for_h) == (30, 2)
    assert cadence.refractory.citation == ("TOXBOT-D D16",)


def test_an_approval_with_who_and_a_quoted_on_is_accepted() -> None:
    text = DEFAULT_TEXT.replace(
        "approval:\n  approved: false\n",
        "approval:\n  approved: true\n  by: Dr A. Example\n  approved_on: 2026-12-01\n",
    )
    protocol = parse_protocol(text)
    assert protocol.approval.approved
    assert protocol.label == "toxbot-default 2026.1"


def test_a_bare_on_key_is_refused_not_ignored() -> None:
    """YAML 1.1 reads a bare ``on`` as true; the file's comment says to quote it."""
    text = DEFAULT_TEXT.replace(
        "approval:\n  approved: false\n",
        "approval:\n  approved: true\n  by: Dr A. Example\n  on: 2026-12-01\n",
    )
    with pytest.raises(ProtocolError) as raised:
        parse_protocol(text)
    error = the_error(raised.value.errors)
    # pydantic words it poorly ("approval.1: Keys should be strings (True)"), but it is refused.
    assert error.field.startswith("approval."), error.field


# ---------------------------------------------------------------------------------------------
# Broken files: one edit each, and the path the error names


def test_invalid_yaml_names_the_line() -> None:
    lines = DEFAULT_TEXT.splitlines()
    broken = "\n".join([*lines[:40], "\tbroken: a tab cannot indent YAML", *lines[40:]])
    with pytest.raises(ProtocolError) as raised:
        parse_protocol(broken)
    error = the_error(raised.value.errors)
    assert (error.field, error.value) == ("yaml", "line 41")


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_protocol("- crs-workup\n- crs-tocilizumab\n")
    error = the_error(raised.value.errors)
    assert (error.field, error.value) == ("protocol", "list")


def test_a_missing_cadence_is_named() -> None:
    error = the_error(errors_after(lambda data: data.pop("cadence")))
    assert error.field == "cadence"
    assert error.problem == "Field required"


def test_an_unknown_field_is_named() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["steps"][0]["colour"] = "red"

    error = the_error(errors_after(edit))
    assert error.field == "steps.0.colour"
    assert "Extra inputs" in error.problem


def test_a_citation_to_an_unknown_source_is_named() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["steps"][step_index(data, "crs-g3-icu")]["citation"] = ["S999 p.2"]

    error = the_error(errors_after(edit))
    assert error.field == "protocol"
    assert "S999 p.2" in error.problem


def test_a_duplicate_step_id_is_named() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["steps"][1]["id"] = "crs-workup"

    error = the_error(errors_after(edit))
    assert error.field == "protocol"
    assert "'crs-workup' is used twice" in error.problem


def test_imperative_text_is_refused() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["steps"][step_index(data, "crs-tocilizumab")]["text"] = "Give tocilizumab 8 mg/kg IV."

    error = the_error(errors_after(edit))
    assert error.field == f"steps.{step_index(default_data(), 'crs-tocilizumab')}.text"
    assert "D19" in error.problem


def test_approved_without_who_is_refused() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["approval"] = {"approved": True, "approved_on": "2026-12-01"}

    error = the_error(errors_after(edit))
    assert error.field == "approval"
    assert "(by)" in error.problem


def test_a_tocilizumab_dose_with_mg_is_refused() -> None:
    index = step_index(default_data(), "crs-tocilizumab")

    def edit(data: dict[str, Any]) -> None:
        data["steps"][index]["dose"]["mg"] = 800

    error = the_error(errors_after(edit))
    assert error.field == f"steps.{index}.dose"
    assert "drugs.tocilizumab" in error.problem


def test_a_dose_with_both_mg_and_mg_per_kg_is_refused() -> None:
    index = step_index(default_data(), "ladder-siltuximab")

    def edit(data: dict[str, Any]) -> None:
        data["steps"][index]["dose"]["mg"] = 800

    error = the_error(errors_after(edit))
    assert error.field == f"steps.{index}.dose"
    assert "exactly one of mg or mg_per_kg" in error.problem


def test_the_iec_hs_screen_cannot_be_marked_verified() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["iec_hs"]["unverified"] = False

    assert the_error(errors_after(edit)).field == "iec_hs.unverified"


def test_grade_5_is_not_a_step_condition() -> None:
    """D12: grade 5 is recorded at case closure, never graded live, so no step can key on it."""
    index = step_index(default_data(), "crs-g3-icu")

    def edit(data: dict[str, Any]) -> None:
        data["steps"][index]["when"]["crs_grades"] = [3, 4, 5]

    error = the_error(errors_after(edit))
    assert (error.field, error.value) == (f"steps.{index}.when.crs_grades.2", "5")


def test_a_negative_dose_limit_is_refused() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["drugs"]["tocilizumab"]["max_doses_total"] = -1

    error = the_error(errors_after(edit))
    assert (error.field, error.value) == ("drugs.tocilizumab.max_doses_total", "-1")


# ---------------------------------------------------------------------------------------------
# differences(base, other)


def edited(edit: Callable[[dict[str, Any]], None]) -> Protocol:
    data = default_data()
    edit(data)
    return protocol_from_mapping(data)


def test_the_default_has_no_differences_from_itself() -> None:
    assert differences(DEFAULT, DEFAULT) == []
    assert differences(DEFAULT, parse_protocol(DEFAULT_TEXT)) == []


def test_a_changed_limit_is_one_line() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["drugs"]["tocilizumab"]["max_doses_total"] = 3

    assert differences(DEFAULT, edited(edit)) == ["drugs.tocilizumab.max_doses_total: 4 -> 3"]


def test_an_added_step_is_listed_by_id_without_shifting_the_others() -> None:
    def edit(data: dict[str, Any]) -> None:
        new = dict(data["steps"][step_index(data, "crs-g3-icu")], id="crs-foo")
        data["steps"].insert(0, new)

    assert differences(DEFAULT, edited(edit)) == ["steps: added crs-foo"]


def test_a_removed_step_is_listed() -> None:
    def edit(data: dict[str, Any]) -> None:
        del data["steps"][step_index(data, "crs-telemetry")]

    assert differences(DEFAULT, edited(edit)) == ["steps: removed crs-telemetry"]


def test_changed_step_text_conditions_and_order_are_listed() -> None:
    def edit(data: dict[str, Any]) -> None:
        step = data["steps"][step_index(data, "crs-g3-dexamethasone")]
        step["text"] = step["text"].replace("tapered quickly", "tapered")
        step["when"]["crs_grades"] = [3, 4]
        data["steps"].append(data["steps"].pop(step_index(data, "crs-workup")))

    assert differences(DEFAULT, edited(edit)) == [
        "steps.crs-g3-dexamethasone.when.crs_grades: [3] -> [3, 4]",
        "steps.crs-g3-dexamethasone.text changed",
        "steps: order changed (moved: crs-workup)",
    ]


# ---------------------------------------------------------------------------------------------
# load_protocol: explicit path, else TOXBOT_PROTOCOL, else the default


@pytest.fixture
def local_protocol(tmp_path: Path) -> Path:
    """An institution's copy of the default with its own version."""
    path = tmp_path / "local.yaml"
    path.write_text(DEFAULT_TEXT.replace('version: "2026.1"', 'version: "2026.1-local"'))
    return path


def test_toxbot_protocol_is_honoured(local_protocol: Path) -> None:
    environ = {PROTOCOL_ENV: str(local_protocol)}
    assert load_protocol(environ=environ).version == "2026.1-local"
    assert str(local_protocol) in active_protocol_source(environ)
    assert "default" in active_protocol_source({})
    assert load_protocol(environ={PROTOCOL_ENV: ""}) == DEFAULT, "empty means unset"


def test_an_explicit_path_beats_the_environment(local_protocol: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(DEFAULT_TEXT.replace('version: "2026.1"', 'version: "2026.1-other"'))
    environ = {PROTOCOL_ENV: str(local_protocol)}
    assert load_protocol(other, environ=environ).version == "2026.1-other"


def test_a_missing_file_raises_a_clear_protocol_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ProtocolError) as raised:
        load_protocol(missing)
    error = the_error(raised.value.errors)
    assert error.value == str(missing)
    assert "no such protocol file" in error.problem
    assert f"protocol file: {missing}" in raised.value.__notes__

    with pytest.raises(ProtocolError) as from_env:
        load_protocol(environ={PROTOCOL_ENV: str(missing)})
    assert PROTOCOL_ENV in the_error(from_env.value.errors).problem


def test_an_invalid_file_names_itself(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(DEFAULT_TEXT.replace("max_doses_total: 4", "max_doses_total: 0"))
    with pytest.raises(ProtocolError) as raised:
        load_protocol(broken)
    assert the_error(raised.value.errors).field == "drugs.tocilizumab.max_doses_total"
    assert f"protocol file: {broken}" in raised.value.__notes__
