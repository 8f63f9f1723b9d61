"""Acceptance tests for the guidance engine (issue 3): one timeline per clinical situation.

Each test builds a case history hour by hour from ``T0``, derives the state at ``now``
(``derive_state``), asks for advice (``advise``) and asserts what the clinical reference says the
advice must be. Every expectation is read off ``shared/clinical-reference.md`` (§0 D12-D19, §0.1,
§3.1-3.3, §4) and design §6, never off the engine's code. Every assessment records full data, so
each grade is determined (D10), and the patient's age and weight are on record.

Recommendation ids are the default protocol's (``grading/protocols/default.yaml``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import time_machine
import yaml

import grading
from grading.case import (
    CaseHistory,
    Dose,
    Drug,
    Lab,
    Patient,
    Route,
    StatedGrades,
    TimedAssessment,
)
from grading.guidance import advice_as_dict, advise
from grading.guidance_types import Advice, CaseState, Recommendation, Trend
from grading.protocol import Protocol, StepKind, parse_protocol
from grading.state import derive_state
from tests.unit.grading.clinical import NORMAL_NEURO_EXAM

DEFAULT_YAML = Path(grading.__file__).parent / "protocols" / "default.yaml"

# ---------------------------------------------------------------------------------------------
# Protocols: the shipped default, and variants made by editing its YAML


@pytest.fixture(scope="module")
def default_yaml() -> dict[str, Any]:
    """The default protocol's YAML, decoded; skipped until the file has landed."""
    if not DEFAULT_YAML.exists():
        pytest.skip(f"the default protocol {DEFAULT_YAML} has not landed yet")
    data = yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def protocol(default_yaml: dict[str, Any]) -> Protocol:
    """The default protocol as the application loads it (``bot.protocol_files.load_protocol``)."""
    try:
        from bot.protocol_files import load_protocol
    except ImportError:
        pytest.skip("bot/protocol_files.py (load_protocol) has not landed yet")
    loaded = load_protocol(environ={})  # the shipped default, whatever TOXBOT_PROTOCOL says
    assert isinstance(loaded, Protocol)
    return loaded


def edited(default_yaml: Mapping[str, Any], edit: Callable[[dict[str, Any]], None]) -> Protocol:
    """The default protocol with one edit to its YAML, parsed as an institution's file would be."""
    data = json.loads(json.dumps(default_yaml, default=str))  # a deep copy; dates as ISO text
    edit(data)
    return parse_protocol(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _tocilizumab_rule(data: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = data.setdefault("drugs", {}).setdefault("tocilizumab", {})
    return rule


def _at_most_three_tocilizumab_doses(data: dict[str, Any]) -> None:
    _tocilizumab_rule(data)["max_doses_total"] = 3


def _approved(data: dict[str, Any]) -> None:
    data["approval"] = {"approved": True, "by": "Dr X", "approved_on": "2026-11-01"}


# ---------------------------------------------------------------------------------------------
# Timelines: hours from T0, full data at every assessment

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    """``hours`` after T0 (08:00 UTC on 20 Nov 2026)."""
    return T0 + timedelta(hours=hours)


ADULT = Patient(age_years=60, weight_kg=80, product="tisa-cel", infused_at=at(-72))
CHILD_25_KG = Patient(age_years=7, weight_kg=25, product="tisa-cel", infused_at=at(-72))
ADULT_110_KG = Patient(age_years=55, weight_kg=110, product="tisa-cel", infused_at=at(-72))
AXI_CEL_ADULT = Patient(age_years=60, weight_kg=80, product="axi-cel", infused_at=at(-72))

ROOM_AIR = MappingProxyType({"device": "room_air"})
# CRS findings by grade (ASTCT 2019, §1.2): fever, then hypotension on fluids, then one pressor.
CRS_FINDINGS: Mapping[int, Mapping[str, Any]] = MappingProxyType(
    {
        0: {"temperature_c": 37.0, "hypotension": False, "oxygen": ROOM_AIR},
        1: {"temperature_c": 38.6, "hypotension": False, "oxygen": ROOM_AIR},
        2: {
            "temperature_c": 39.0,
            "hypotension": True,
            "vasopressors": 0,
            "vasopressin": False,
            "oxygen": ROOM_AIR,
        },
        3: {
            "temperature_c": 39.0,
            "hypotension": True,
            "vasopressors": 1,
            "vasopressin": False,
            "oxygen": ROOM_AIR,
        },
    }
)
# Afebrile (tocilizumab takes the fever away) but hypotensive on one vasopressor.
AFEBRILE_ON_ONE_PRESSOR: Mapping[str, Any] = MappingProxyType(
    {
        "temperature_c": 37.0,
        "hypotension": True,
        "vasopressors": 1,
        "vasopressin": False,
        "oxygen": ROOM_AIR,
    }
)
# ICANS findings by grade for an adult (ICE, §2.3): ICE 10, 7-9, 3-6, 0-2; alert; normal exam.
ICANS_FINDINGS: Mapping[int, Mapping[str, Any]] = MappingProxyType(
    {
        grade: {"ice": ice, "consciousness": "alert", **NORMAL_NEURO_EXAM}
        for grade, ice in ((0, 10), (1, 8), (2, 5), (3, 2))
    }
)
# A child under 12 is screened with CAPD (D6); CAPD 0 is no encephalopathy (D7).
CHILD_NORMAL_NEURO: Mapping[str, Any] = MappingProxyType(
    {"capd": 0, "consciousness": "alert", **NORMAL_NEURO_EXAM}
)


def assessed(
    hours: float,
    *,
    crs: int = 0,
    icans: int = 0,
    vitals: Mapping[str, Any] | None = None,
    neuro: Mapping[str, Any] | None = None,
    stated: StatedGrades | None = None,
) -> TimedAssessment:
    """A full assessment at ``hours``: CRS and ICANS findings of the given grades."""
    fields = {
        **(vitals if vitals is not None else CRS_FINDINGS[crs]),
        **(neuro if neuro is not None else ICANS_FINDINGS[icans]),
    }
    return TimedAssessment(at=at(hours), stated=stated, **fields)


def tocilizumab(hours: float, mg: float = 640) -> Dose:
    """Tocilizumab 8 mg/kg for the 80 kg adult, IV."""
    return Dose(at=at(hours), drug=Drug.TOCILIZUMAB, dose_mg=mg, route=Route.IV)


def dexamethasone(hours: float, mg: float = 10) -> Dose:
    return Dose(at=at(hours), drug=Drug.DEXAMETHASONE, dose_mg=mg, route=Route.IV)


@dataclass(frozen=True)
class Case:
    """A timeline: what was recorded, and the moment advice is asked for."""

    now_h: float
    assessments: Sequence[TimedAssessment]
    doses: Sequence[Dose] = ()
    patient: Patient = ADULT
    labs: Sequence[Lab] = ()

    @property
    def now(self) -> datetime:
        return at(self.now_h)

    @property
    def history(self) -> CaseHistory:
        return CaseHistory(
            patient=self.patient,
            assessments=tuple(self.assessments),
            doses=tuple(self.doses),
            labs=tuple(self.labs),
        )

    def state(self, protocol: Protocol) -> CaseState:
        return derive_state(self.history, protocol, self.now)

    def advice(self, protocol: Protocol) -> Advice:
        return advise(self.state(protocol), protocol, self.now)


def ids(advice: Advice) -> list[str]:
    return [r.id for r in advice.recommendations]


def recommendation(advice: Advice, step_id: str) -> Recommendation:
    """The recommendation with ``step_id``; fails naming the ones that were given."""
    found = [r for r in advice.recommendations if r.id == step_id]
    assert len(found) == 1, f"{step_id} not recommended exactly once; got {ids(advice)}"
    return found[0]


def grade_of(state: CaseState, side: str) -> int | None:
    course = state.crs if side == "crs" else state.icans
    assert course.current is not None, f"no current {side} grade"
    return course.current.grade


# ---------------------------------------------------------------------------------------------
# The timelines, named; the tests below use them and the cross-cutting tests use them all.


def neuro_screen(patient: Patient) -> Mapping[str, Any] | None:
    """A normal neuro screen by age (D6): CAPD under 12, else ``None`` (the ICE findings)."""
    return CHILD_NORMAL_NEURO if patient.age_years is not None and patient.age_years < 12 else None


def first_crs_grade_2(patient: Patient = ADULT) -> Case:
    """Fever from -4 h, hypotension on fluids at 0 h: the first CRS grade 2, nothing given yet."""
    neuro = neuro_screen(patient)
    return Case(
        now_h=0,
        assessments=[assessed(-4, crs=1, neuro=neuro), assessed(0, crs=2, neuro=neuro)],
        patient=patient,
    )


def three_tocilizumab_in_16_h(now_h: float = 20) -> Case:
    """CRS 2 throughout; tocilizumab at 0, 8 and 16 h; no corticosteroids."""
    return Case(
        now_h=now_h,
        assessments=[assessed(h, crs=2) for h in (0, 8, 16, now_h)],
        doses=[tocilizumab(0), tocilizumab(8), tocilizumab(16)],
    )


def four_tocilizumab_given() -> Case:
    """Tocilizumab at 0, 8, 16 and 26 h: the total limit of 4 is used up. Now 36 h."""
    return Case(
        now_h=36,
        assessments=[assessed(h, crs=2) for h in (0, 8, 16, 26, 36)],
        doses=[tocilizumab(0), tocilizumab(8), tocilizumab(16), tocilizumab(26)],
    )


def refractory_crs(
    *,
    last_h: float = 25,
    last_crs: int = 2,
    second_tocilizumab: bool = True,
    steroids: Sequence[Dose] | None = None,
    patient: Patient = ADULT,
) -> Case:
    """CRS 2 from 0 h; tocilizumab at 0.5 h and 8.5 h; dexamethasone 10 mg q6h from 9 h (or
    ``steroids``).

    At 25 h (24.5 h after the first tocilizumab) CRS is still grade 2: refractory (D14).
    """
    mg = 300 if patient is CHILD_25_KG else 640
    doses = [tocilizumab(0.5, mg)]
    if second_tocilizumab:
        doses.append(tocilizumab(8.5, mg))
    doses += [dexamethasone(h) for h in (9, 15, 21)] if steroids is None else steroids
    neuro = neuro_screen(patient)
    return Case(
        now_h=last_h,
        assessments=[
            assessed(-4, crs=1, neuro=neuro),
            assessed(0, crs=2, neuro=neuro),
            assessed(8, crs=2, neuro=neuro),
            assessed(16, crs=2, neuro=neuro),
            assessed(last_h, crs=last_crs, neuro=neuro),
        ],
        doses=doses,
        patient=patient,
    )


def refractory_icans(*, last_h: float = 25, last_icans: int = 3) -> Case:
    """ICANS 3 (ICE 2) without CRS from 0 h; dexamethasone 10 mg q6h from 0.5 h.

    At 25 h (24.5 h after corticosteroids started) ICANS is still grade 3: refractory (D15).
    """
    return Case(
        now_h=last_h,
        assessments=[
            *(assessed(h, icans=3) for h in (0, 6, 12, 18)),
            assessed(last_h, icans=last_icans),
        ],
        doses=[dexamethasone(h) for h in (0.5, 6.5, 12.5, 18.5, 24.5)],
    )


def icans_without_crs() -> Case:
    """ICANS 2 (ICE 5), afebrile and normotensive on room air, never any CRS."""
    return Case(now_h=0, assessments=[assessed(-4), assessed(0, icans=2)])


def icans_with_crs() -> Case:
    """ICANS 1 (ICE 8) with concurrent CRS 1 (fever)."""
    return Case(now_h=0, assessments=[assessed(-4, crs=1), assessed(0, crs=1, icans=1)])


def icans_grade_1(patient: Patient) -> Case:
    """ICANS 1 (ICE 8), no CRS."""
    return Case(now_h=0, assessments=[assessed(-4), assessed(0, icans=1)], patient=patient)


def steroid_taper(*, second_day: Sequence[Dose], last_icans: int = 1) -> Case:
    """ICANS 2 from 0 h; dexamethasone 10 mg q6h for the first day (0, 6, 12, 18 h), then
    ``second_day``. ICANS improves to 1 at 24 h (so it is not refractory). Now 43 h: the last 24 h
    are (19 h, 43 h], the 24 h before them (-5 h, 19 h]."""
    return Case(
        now_h=43,
        assessments=[assessed(0, icans=2), assessed(24, icans=1), assessed(43, icans=last_icans)],
        doses=[*(dexamethasone(h) for h in (0, 6, 12, 18)), *second_day],
    )


def rapid_taper() -> Case:
    """40 mg in the first day, then one 2 mg dose: a rapid taper while ICANS is active."""
    return steroid_taper(second_day=[dexamethasone(30, mg=2)])


def afebrile_on_pressor_after_tocilizumab() -> Case:
    """CRS 2 at 0 h, tocilizumab at 1 h; at 6 h afebrile but on one vasopressor.

    The assessment at 6 h does not state prior treatment: the history does (D13).
    """
    return Case(
        now_h=6,
        assessments=[assessed(0, crs=2), assessed(6, vitals=AFEBRILE_ON_ONE_PRESSOR)],
        doses=[tocilizumab(1)],
    )


SCENARIOS: Mapping[str, Callable[[], Case]] = MappingProxyType(
    {
        "first-crs-2": first_crs_grade_2,
        "first-crs-2-child-25kg": lambda: first_crs_grade_2(CHILD_25_KG),
        "first-crs-2-adult-110kg": lambda: first_crs_grade_2(ADULT_110_KG),
        "4th-tocilizumab-in-24h": three_tocilizumab_in_16_h,
        "5th-tocilizumab": four_tocilizumab_given,
        "refractory-crs": refractory_crs,
        "refractory-icans": refractory_icans,
        "icans-without-crs": icans_without_crs,
        "icans-with-crs": icans_with_crs,
        "axi-cel-icans-1": lambda: icans_grade_1(AXI_CEL_ADULT),
        "rapid-taper": rapid_taper,
        "afebrile-on-pressor-after-tocilizumab": afebrile_on_pressor_after_tocilizumab,
    }
)


@pytest.fixture(params=list(SCENARIOS), ids=list(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> Case:
    return SCENARIOS[request.param]()


# ---------------------------------------------------------------------------------------------
# The default protocol itself


def test_the_default_protocol_loads_and_is_the_shipped_yaml(
    protocol: Protocol, default_yaml: dict[str, Any]
) -> None:
    """Guards the variants below: an unedited copy of the YAML is the protocol the app loads."""
    assert edited(default_yaml, lambda data: None) == protocol
    assert not protocol.approval.approved, "the shipped default is not approved for clinical use"


def test_the_default_protocol_has_every_step_the_guidance_names(protocol: Protocol) -> None:
    step_ids = {step.id for step in protocol.steps}
    assert step_ids >= {
        "crs-tocilizumab",
        "crs-g2-dexamethasone",
        "crs-workup",
        "icans-no-tocilizumab-without-crs",
        "icans-tocilizumab-with-crs",
        "product-early-steroids-icans",
        "refractory-infection",
        "refractory-iec-hs",
        "refractory-neuro-mimics",
        "ladder-dexamethasone-20",
        "ladder-methylprednisolone-1g",
        "ladder-anakinra-adult",
        "ladder-anakinra-child",
        "ladder-siltuximab",
        "refractory-review",
    }


def test_the_default_protocol_keeps_the_d17_tocilizumab_limits(protocol: Protocol) -> None:
    rule = protocol.drugs.tocilizumab
    assert (rule.mg_per_kg, rule.max_dose_mg) == (8, 800)
    assert [(band.below_kg, band.mg_per_kg) for band in rule.weight_bands] == [(30, 12)]
    assert (rule.min_interval_h, rule.max_doses_24h, rule.max_doses_total) == (8, 3, 4)


# ---------------------------------------------------------------------------------------------
# First CRS grade 2 (§3.2: tocilizumab 8 mg/kg, ≤800 mg, q8h PRN; work-up at every grade)


def test_first_crs_grade_2_offers_tocilizumab_and_the_workup(protocol: Protocol) -> None:
    advice = first_crs_grade_2().advice(protocol)
    state = advice.state

    assert grade_of(state, "crs") == 2
    assert grade_of(state, "icans") == 0
    assert state.crs.trend is Trend.WORSENING
    assert state.tocilizumab.doses_total == 0
    assert state.tocilizumab.available_now
    assert state.tocilizumab.next_eligible_at is None
    assert not state.refractory.any

    assert advice.tocilizumab.offered, advice.tocilizumab.reason
    assert advice.tocilizumab.dose_mg == 640  # 8 mg/kg x 80 kg
    offered = recommendation(advice, "crs-tocilizumab")
    assert offered.available
    assert offered.dose is not None
    assert offered.dose.mg == 640
    assert "8 mg/kg" in offered.dose.arithmetic
    assert "crs-workup" in ids(advice)
    assert not {"icans-no-tocilizumab-without-crs", "refractory-review"} & set(ids(advice))
    assert not [i for i in ids(advice) if i.startswith("ladder-")], "no ladder before refractory"


def test_first_crs_grade_2_reassessment_follows_the_grade_1_cadence(protocol: Protocol) -> None:
    """§0.1: CRS ≥1 → vitals every 2 h, ICE every 4 h, from the assessment just recorded."""
    advice = first_crs_grade_2().advice(protocol)
    assert advice.next_reassessment.vitals_at == at(2)
    assert advice.next_reassessment.neuro_at == at(4)
    assert advice.next_reassessment.citation


# ---------------------------------------------------------------------------------------------
# Tocilizumab limits (D17; §3.1)


def test_fourth_tocilizumab_inside_24_h_is_refused_with_the_time_it_becomes_possible(
    protocol: Protocol,
) -> None:
    """Doses at 0, 8, 16 h; at 20 h a 4th would be the 4th in 24 h. At 24 h the first ages out."""
    advice = three_tocilizumab_in_16_h(now_h=20).advice(protocol)
    ledger = advice.state.tocilizumab

    assert ledger.doses_total == 3
    assert ledger.doses_last_24h == 3
    assert not ledger.available_now
    assert ledger.next_eligible_at == at(24)
    assert "24 h" in ledger.reason
    assert "08:00" in ledger.reason, "the reason says when the next dose becomes possible"

    assert not advice.tocilizumab.offered
    assert "08:00" in advice.tocilizumab.reason
    refused = recommendation(advice, "crs-tocilizumab")
    assert not refused.available
    assert refused.availability is not None
    assert "08:00" in refused.availability, "availability says why and when"
    assert refused.text.startswith("Not offered") or refused.text.startswith("Consider")


def test_fourth_tocilizumab_is_offered_once_the_first_dose_leaves_the_24_h_window(
    protocol: Protocol,
) -> None:
    advice = three_tocilizumab_in_16_h(now_h=24.5).advice(protocol)
    ledger = advice.state.tocilizumab
    assert ledger.doses_last_24h == 2
    assert ledger.available_now, ledger.reason
    assert advice.tocilizumab.offered, advice.tocilizumab.reason
    assert recommendation(advice, "crs-tocilizumab").available


def test_fifth_tocilizumab_is_never_offered(protocol: Protocol) -> None:
    advice = four_tocilizumab_given().advice(protocol)
    ledger = advice.state.tocilizumab

    assert ledger.doses_total == 4
    assert not ledger.available_now
    assert ledger.next_eligible_at is None, "never again, so no time to give"
    assert "total" in ledger.reason.lower()
    assert "4" in ledger.reason

    assert not advice.tocilizumab.offered
    assert "total" in advice.tocilizumab.reason.lower()
    refused = recommendation(advice, "crs-tocilizumab")
    assert not refused.available
    assert refused.availability is not None
    assert "total" in refused.availability.lower()


def test_second_tocilizumab_within_8_h_is_refused_until_8_h_after_the_first(
    protocol: Protocol,
) -> None:
    """Tocilizumab at 1 h; at 6 h the next is possible from 9 h (≥8 h apart)."""
    advice = afebrile_on_pressor_after_tocilizumab().advice(protocol)
    ledger = advice.state.tocilizumab
    assert ledger.doses_total == 1
    assert not ledger.available_now
    assert ledger.next_eligible_at == at(9)
    assert "8 h" in ledger.reason
    assert not advice.tocilizumab.offered


@pytest.mark.parametrize(
    ("since_h", "reads"),
    [
        pytest.param(0, "0 min ago", id="recorded as just given: 0 min, not 0.0 h"),
        pytest.param(0.5, "30 min ago", id="under an hour: whole minutes"),
        pytest.param(5.5, "5.5 h ago", id="an hour or more: hours to one decimal"),
    ],
)
def test_the_interval_limit_says_how_long_ago_the_last_dose_was(
    protocol: Protocol, since_h: float, reads: str
) -> None:
    """D17: within the 8 h minimum interval the ledger says when the last dose was, in the
    unit a clinician reads next to it."""
    case = Case(now_h=since_h, assessments=[assessed(since_h, crs=2)], doses=[tocilizumab(0)])
    ledger = case.state(protocol).tocilizumab
    assert not ledger.available_now
    assert f"the last dose was {reads} (minimum 8 h apart)" in ledger.reason, ledger.reason


def test_a_dose_too_soon_after_the_last_is_flagged_in_minutes(protocol: Protocol) -> None:
    """D17: a second dose 45 min after the first is flagged with the gap in minutes."""
    case = Case(
        now_h=1, assessments=[assessed(1, crs=2)], doses=[tocilizumab(0), tocilizumab(0.75)]
    )
    (breach,) = case.state(protocol).tocilizumab.limit_breaches
    assert "came 45 min after the previous one (minimum 8 h)" in breach, breach


def test_a_dose_recorded_against_a_limit_is_kept_and_flagged(protocol: Protocol) -> None:
    """D17: a dose given 4 h after the last is stored (it happened) but flagged."""
    case = Case(
        now_h=5,
        assessments=[assessed(0, crs=2), assessed(5, crs=2)],
        doses=[tocilizumab(0), tocilizumab(4)],
    )
    ledger = case.state(protocol).tocilizumab
    assert ledger.doses_total == 2
    assert len(ledger.limit_breaches) == 1, ledger.limit_breaches
    assert re.search(r"\b8\s*h", ledger.limit_breaches[0]), ledger.limit_breaches


@pytest.mark.parametrize(
    ("patient", "dose_mg", "arithmetic"),
    [
        pytest.param(CHILD_25_KG, 300, "12 mg/kg", id="25 kg child: 12 mg/kg under 30 kg = 300 mg"),
        pytest.param(ADULT_110_KG, 800, "800", id="110 kg adult: 8 mg/kg = 880, capped at 800 mg"),
        pytest.param(ADULT, 640, "8 mg/kg", id="80 kg adult: 8 mg/kg = 640 mg"),
    ],
)
def test_tocilizumab_dose_by_weight(
    protocol: Protocol, patient: Patient, dose_mg: float, arithmetic: str
) -> None:
    advice = first_crs_grade_2(patient).advice(protocol)
    assert advice.tocilizumab.offered, advice.tocilizumab.reason
    assert advice.tocilizumab.dose_mg == dose_mg
    dose = recommendation(advice, "crs-tocilizumab").dose
    assert dose is not None
    assert dose.mg == dose_mg
    assert arithmetic in dose.arithmetic


def test_a_protocol_with_a_lower_total_limit_changes_the_ledger(
    protocol: Protocol, default_yaml: dict[str, Any]
) -> None:
    """Doses at 0, 8 and 26 h; at 36 h a 4th is within the default limits but not within 3."""
    case = Case(
        now_h=36,
        assessments=[assessed(h, crs=2) for h in (0, 8, 26, 36)],
        doses=[tocilizumab(0), tocilizumab(8), tocilizumab(26)],
    )
    at_most_three = edited(default_yaml, _at_most_three_tocilizumab_doses)
    assert at_most_three.drugs.tocilizumab.max_doses_total == 3

    default_ledger = case.state(protocol).tocilizumab
    assert default_ledger.available_now, default_ledger.reason

    ledger = case.state(at_most_three).tocilizumab
    assert ledger.doses_total == 3
    assert not ledger.available_now
    assert ledger.next_eligible_at is None
    assert "total" in ledger.reason.lower()
    assert "3" in ledger.reason
    advice = case.advice(at_most_three)
    assert not advice.tocilizumab.offered
    assert not recommendation(advice, "crs-tocilizumab").available


# ---------------------------------------------------------------------------------------------
# Refractory CRS (D14, D16; §4.2-4.4)

DIFFERENTIAL_CRS = ("refractory-infection", "refractory-iec-hs")
LADDER_ADULT = (
    "ladder-dexamethasone-20",
    "ladder-methylprednisolone-1g",
    "ladder-anakinra-adult",
    "ladder-siltuximab",
)


def assert_differential_before_ladder(advice: Advice) -> None:
    kinds = [r.kind for r in advice.recommendations]
    differential = [i for i, kind in enumerate(kinds) if kind is StepKind.DIFFERENTIAL]
    ladder = [i for i, kind in enumerate(kinds) if kind is StepKind.LADDER]
    assert differential, f"no differential items: {ids(advice)}"
    assert ladder, f"no ladder rungs: {ids(advice)}"
    assert max(differential) < min(ladder), f"differential must come first: {ids(advice)}"


def test_crs_2_unchanged_24_h_after_two_tocilizumab_and_dexamethasone_is_refractory(
    protocol: Protocol,
) -> None:
    advice = refractory_crs().advice(protocol)
    state = advice.state

    assert grade_of(state, "crs") == 2
    assert state.refractory.crs
    assert not state.refractory.icans
    assert state.refractory.reasons
    assert any("CRS" in reason for reason in state.refractory.reasons)
    assert state.tocilizumab.doses_total == 2
    assert state.steroids.dexamethasone_equivalent_mg == pytest.approx(30)

    given = ids(advice)
    assert set(DIFFERENTIAL_CRS) <= set(given), given
    assert set(LADDER_ADULT) <= set(given), given
    assert "ladder-anakinra-child" not in given, "an 80 kg adult gets the adult anakinra dose"
    assert "refractory-review" in given, "D16: clinician re-review at 12 h and 24 h"
    for step_id in DIFFERENTIAL_CRS:
        assert recommendation(advice, step_id).kind is StepKind.DIFFERENTIAL
    for step_id in LADDER_ADULT:
        assert recommendation(advice, step_id).kind is StepKind.LADDER
    assert_differential_before_ladder(advice)


def test_refractory_crs_tightens_reassessment(protocol: Protocol) -> None:
    """§0.1: refractory → vitals every 1 h, neuro every 2 h."""
    advice = refractory_crs().advice(protocol)
    assert advice.next_reassessment.vitals_at == at(26)
    assert advice.next_reassessment.neuro_at == at(27)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(refractory_crs(last_h=20), id="20 h after the first tocilizumab: too early"),
        pytest.param(refractory_crs(second_tocilizumab=False), id="only one tocilizumab dose"),
        pytest.param(refractory_crs(steroids=()), id="no corticosteroids"),
        pytest.param(refractory_crs(last_crs=1), id="improved by one grade at 25 h"),
    ],
)
def test_crs_short_of_the_d14_definition_is_not_refractory(protocol: Protocol, case: Case) -> None:
    advice = case.advice(protocol)
    assert not advice.state.refractory.crs, advice.state.refractory.reasons
    assert not [i for i in ids(advice) if i.startswith("ladder-")], ids(advice)


def test_crs_2_persisting_once_the_tocilizumab_limit_is_reached_is_refractory(
    protocol: Protocol,
) -> None:
    """D14, third clause: CRS ≥2 that persists once the tocilizumab limit (4) is reached."""
    state = four_tocilizumab_given().state(protocol)
    assert state.refractory.crs, state.refractory.reasons


def test_crs_worsening_after_tocilizumab_and_steroids_is_refractory(protocol: Protocol) -> None:
    """D14, second clause: CRS that worsens after both were given, before the 24 h window."""
    case = Case(
        now_h=12,
        assessments=[assessed(0, crs=2), assessed(6, crs=2), assessed(12, crs=3)],
        doses=[tocilizumab(0.5), tocilizumab(8.5), dexamethasone(9)],
    )
    state = case.state(protocol)
    assert grade_of(state, "crs") == 3
    assert state.refractory.crs, state.refractory.reasons


def test_refractory_crs_in_a_child_offers_the_child_anakinra_dose(protocol: Protocol) -> None:
    """§4.4: children 2 mg/kg IV q6h, at most 100 mg per dose: 50 mg for 25 kg."""
    advice = refractory_crs(patient=CHILD_25_KG).advice(protocol)
    assert advice.state.refractory.crs, advice.state.refractory.reasons
    given = ids(advice)
    assert "ladder-anakinra-adult" not in given, given
    dose = recommendation(advice, "ladder-anakinra-child").dose
    assert dose is not None
    assert dose.mg == 50
    assert_differential_before_ladder(advice)


def test_the_ladder_offers_only_rungs_above_the_current_corticosteroid(protocol: Protocol) -> None:
    """Refractory CRS on methylprednisolone 1,000 mg: dexamethasone 20 mg q6h is a rung passed."""
    methylprednisolone = Dose(at=at(9), drug=Drug.METHYLPREDNISOLONE, dose_mg=1000, route=Route.IV)
    advice = refractory_crs(steroids=[methylprednisolone]).advice(protocol)
    assert advice.state.refractory.crs, advice.state.refractory.reasons
    given = ids(advice)
    assert "ladder-anakinra-adult" in given, given
    passed = [r for r in advice.recommendations if r.id == "ladder-dexamethasone-20"]
    assert not passed or not passed[0].available, "dexamethasone 20 mg q6h is below the current"


def test_on_methylprednisolone_1g_daily_the_twice_daily_rung_is_still_offered(
    protocol: Protocol,
) -> None:
    methylprednisolone = Dose(at=at(9), drug=Drug.METHYLPREDNISOLONE, dose_mg=1000, route=Route.IV)
    advice = refractory_crs(steroids=[methylprednisolone]).advice(protocol)
    assert advice.state.refractory.crs, advice.state.refractory.reasons
    next_steroid_rungs = [
        r
        for r in advice.recommendations
        if r.kind is StepKind.LADDER
        and r.available
        and r.dose is not None
        and r.dose.drug == Drug.METHYLPREDNISOLONE
        and "twice daily" in r.text
    ]
    assert next_steroid_rungs, [(r.id, r.available, r.availability) for r in advice.recommendations]


def test_corticosteroids_for_crs_grade_2_bring_antifungal_prophylaxis(
    protocol: Protocol,
) -> None:
    """CRS 2 after one tocilizumab with persistent hypotension; dexamethasone started. Not
    refractory (one tocilizumab dose), so the refractory infection checklist does not carry it."""
    case = Case(
        now_h=12,
        assessments=[assessed(0, crs=2), assessed(6, crs=2), assessed(12, crs=2)],
        doses=[tocilizumab(0.5), dexamethasone(6.5)],
    )
    advice = case.advice(protocol)
    assert not advice.state.refractory.any
    assert "crs-steroid-antifungal" in ids(advice), ids(advice)


def test_crs_1_with_fever_beyond_3_days_is_managed_as_grade_2(protocol: Protocol) -> None:
    case = Case(now_h=96, assessments=[assessed(h, crs=1) for h in range(0, 97, 12)])
    advice = case.advice(protocol)
    assert grade_of(advice.state, "crs") == 1
    assert advice.tocilizumab.offered, advice.tocilizumab.reason
    assert advice.tocilizumab.dose_mg == 640


def test_crs_1_on_its_first_day_gets_no_tocilizumab(protocol: Protocol) -> None:
    """§3.2 (ASCO G1): supportive care; tocilizumab only once fever has lasted >3 days."""
    advice = Case(now_h=0, assessments=[assessed(-4), assessed(0, crs=1)]).advice(protocol)
    assert not advice.tocilizumab.offered, advice.tocilizumab.reason
    assert "crs-tocilizumab" not in ids(advice)
    assert "crs-g1-supportive" in ids(advice)


# ---------------------------------------------------------------------------------------------
# Refractory ICANS (D15, D16)


def test_icans_3_unchanged_24_h_on_dexamethasone_is_refractory(protocol: Protocol) -> None:
    advice = refractory_icans().advice(protocol)
    state = advice.state

    assert grade_of(state, "icans") == 3
    assert grade_of(state, "crs") == 0
    assert state.refractory.icans
    assert not state.refractory.crs
    assert any("ICANS" in reason for reason in state.refractory.reasons)

    given = ids(advice)
    assert "refractory-neuro-mimics" in given, given
    assert recommendation(advice, "refractory-neuro-mimics").kind is StepKind.DIFFERENTIAL
    assert "refractory-review" in given
    assert [i for i in given if i.startswith("ladder-")], "the next rungs of the ladder (D16)"
    assert "ladder-anakinra-child" not in given
    assert_differential_before_ladder(advice)
    # No CRS: tocilizumab is still not for isolated ICANS (§3.1).
    assert not advice.tocilizumab.offered
    assert "icans-no-tocilizumab-without-crs" in given
    assert advice.next_reassessment.vitals_at == at(26)
    assert advice.next_reassessment.neuro_at == at(27)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(refractory_icans(last_h=20), id="19.5 h after steroids started: too early"),
        pytest.param(refractory_icans(last_icans=2), id="improved by one grade at 25 h"),
    ],
)
def test_icans_short_of_the_d15_definition_is_not_refractory(
    protocol: Protocol, case: Case
) -> None:
    state = case.state(protocol)
    assert not state.refractory.icans, state.refractory.reasons


def test_icans_worsening_on_corticosteroids_is_refractory_at_once(protocol: Protocol) -> None:
    """D15, second clause: worse at any time while on corticosteroids (2 → 3 at 6 h)."""
    case = Case(
        now_h=6,
        assessments=[assessed(0, icans=2), assessed(6, icans=3)],
        doses=[dexamethasone(0.5)],
    )
    state = case.state(protocol)
    assert state.refractory.icans, state.refractory.reasons


# ---------------------------------------------------------------------------------------------
# ICANS and tocilizumab (§3.1 ICANS caution, §3.3)


def test_icans_without_crs_gets_no_tocilizumab_and_says_why(protocol: Protocol) -> None:
    advice = icans_without_crs().advice(protocol)
    assert grade_of(advice.state, "icans") == 2
    assert grade_of(advice.state, "crs") == 0

    assert not advice.tocilizumab.offered
    assert "CRS" in advice.tocilizumab.reason
    # Not a limit: the ledger has every dose available; the reason is clinical.
    assert advice.state.tocilizumab.available_now
    caution = recommendation(advice, "icans-no-tocilizumab-without-crs")
    assert "tocilizumab" in caution.text.lower()
    given = ids(advice)
    assert "crs-tocilizumab" not in given
    assert "icans-tocilizumab-with-crs" not in given


def test_icans_with_concurrent_crs_offers_tocilizumab(protocol: Protocol) -> None:
    """§3.3: ICANS G1 with concurrent CRS → tocilizumab 8 mg/kg."""
    advice = icans_with_crs().advice(protocol)
    assert grade_of(advice.state, "icans") == 1
    assert grade_of(advice.state, "crs") == 1
    offered = recommendation(advice, "icans-tocilizumab-with-crs")
    assert offered.available
    assert offered.dose is not None
    assert offered.dose.mg == 640
    assert advice.tocilizumab.offered, advice.tocilizumab.reason
    assert "icans-no-tocilizumab-without-crs" not in ids(advice)


def test_tocilizumab_for_icans_with_crs_respects_the_limits(protocol: Protocol) -> None:
    """D17: never offered against a limit, whichever step offers it (3 doses in 16 h)."""
    case = Case(
        now_h=20,
        assessments=[assessed(h, crs=1, icans=1) for h in (0, 8, 16, 20)],
        doses=[tocilizumab(0), tocilizumab(8), tocilizumab(16)],
    )
    advice = case.advice(protocol)
    refused = recommendation(advice, "icans-tocilizumab-with-crs")
    assert not refused.available
    assert refused.availability is not None
    assert "08:00" in refused.availability
    assert not advice.tocilizumab.offered


# ---------------------------------------------------------------------------------------------
# Product notes (§3.5)


def test_axi_cel_icans_grade_1_brings_the_early_steroid_note(protocol: Protocol) -> None:
    advice = icans_grade_1(AXI_CEL_ADULT).advice(protocol)
    assert grade_of(advice.state, "icans") == 1
    note = recommendation(advice, "product-early-steroids-icans")
    assert note.kind is StepKind.PRODUCT_NOTE
    assert "S12" in " ".join(note.citation)


def test_the_early_steroid_note_is_for_axi_cel_and_brexu_cel_only(protocol: Protocol) -> None:
    advice = icans_grade_1(ADULT).advice(protocol)  # tisa-cel
    assert "product-early-steroids-icans" not in ids(advice)


# ---------------------------------------------------------------------------------------------
# Corticosteroids (D18)


def test_a_rapid_taper_while_icans_is_active_is_flagged(protocol: Protocol) -> None:
    advice = rapid_taper().advice(protocol)
    steroids = advice.state.steroids
    assert grade_of(advice.state, "icans") == 1

    assert steroids.dexamethasone_equivalent_mg == pytest.approx(42)
    assert steroids.last_24h_mg == pytest.approx(2)
    assert steroids.previous_24h_mg == pytest.approx(40)
    assert steroids.rapid_taper
    assert steroids.rapid_taper_reason
    assert any("taper" in warning.lower() for warning in advice.warnings), advice.warnings


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            steroid_taper(second_day=[dexamethasone(30, mg=2)], last_icans=0),
            id="same rapid taper, ICANS resolved",
        ),
        pytest.param(
            steroid_taper(second_day=[dexamethasone(h) for h in (24, 32, 40)]),
            id="10 mg q8h after 10 mg q6h: 30 of 40 mg",
        ),
    ],
)
def test_no_taper_flag_when_icans_is_over_or_the_taper_is_gradual(
    protocol: Protocol, case: Case
) -> None:
    advice = case.advice(protocol)
    assert not advice.state.steroids.rapid_taper, advice.state.steroids.rapid_taper_reason
    assert not any("taper" in warning.lower() for warning in advice.warnings), advice.warnings


def test_steroid_exposure_is_counted_in_dexamethasone_equivalents(protocol: Protocol) -> None:
    """D18: dexamethasone 1 mg = methylprednisolone 5.33 = prednisone 6.67 = hydrocortisone 26.7."""
    doses = [
        dexamethasone(0),
        Dose(at=at(1), drug=Drug.METHYLPREDNISOLONE, dose_mg=53.3, route=Route.IV),
        Dose(at=at(2), drug=Drug.PREDNISONE, dose_mg=66.7, route=Route.PO),
        Dose(at=at(3), drug=Drug.HYDROCORTISONE, dose_mg=267, route=Route.IV),
    ]
    case = Case(now_h=4, assessments=[assessed(0, icans=2), assessed(4, icans=2)], doses=doses)
    steroids = case.state(protocol).steroids
    assert steroids.dexamethasone_equivalent_mg == pytest.approx(40, abs=0.01)
    assert steroids.started_at == at(0)
    assert steroids.last_at == at(3)


# ---------------------------------------------------------------------------------------------
# The fever rule from history (D13)


def test_afebrile_on_a_pressor_after_tocilizumab_is_crs_3_from_history_alone(
    protocol: Protocol,
) -> None:
    case = afebrile_on_pressor_after_tocilizumab()
    assert case.assessments[-1].prior_crs_treatment is None, "the assessment does not say so"

    advice = case.advice(protocol)
    state = advice.state
    assert grade_of(state, "crs") == 3
    assert state.crs.trend is Trend.WORSENING
    assert state.prior_crs_treatment_at == at(1)
    assert state.assessments[-1].prior_crs_treatment
    assert not state.assessments[0].prior_crs_treatment, "nothing was given before 0 h"
    # CRS 3: vitals every hour, neuro every 2 h (§0.1).
    assert advice.next_reassessment.vitals_at == at(7)
    assert advice.next_reassessment.neuro_at == at(8)


def test_the_same_findings_without_treatment_are_not_crs(protocol: Protocol) -> None:
    """D5: hypotension without fever in a patient never treated is CRS 0, with a warning."""
    case = Case(now_h=6, assessments=[assessed(0), assessed(6, vitals=AFEBRILE_ON_ONE_PRESSOR)])
    advice = case.advice(protocol)
    assert grade_of(advice.state, "crs") == 0
    assert advice.state.prior_crs_treatment_at is None
    assert "crs-tocilizumab" not in ids(advice)
    shown = [*advice.warnings, *advice_as_dict(advice)["crs"]["warnings"]]
    assert any("other causes" in warning for warning in shown), "D5: never silent"


def test_prophylaxis_before_crs_onset_does_not_lift_the_fever_rule(protocol: Protocol) -> None:
    """D13 counts treatment given *after CRS onset*: prophylactic tocilizumab and dexamethasone
    at -23 h, with no CRS before, leave afebrile hypotension on a pressor at CRS 0 (D5)."""
    case = Case(
        now_h=6,
        assessments=[assessed(-24), assessed(0), assessed(6, vitals=AFEBRILE_ON_ONE_PRESSOR)],
        doses=[tocilizumab(-23), dexamethasone(-23)],
    )
    state = case.state(protocol)
    assert grade_of(state, "crs") == 0
    assert state.prior_crs_treatment_at is None
    assert not any(graded.prior_crs_treatment for graded in state.assessments)


# ---------------------------------------------------------------------------------------------
# Reassessment cadence (§0.1)


@pytest.mark.parametrize(
    ("case", "vitals_h", "neuro_h"),
    [
        pytest.param(
            Case(now_h=0, assessments=[assessed(0)]), 4, 12, id="no toxicity: 4 h and 12 h"
        ),
        pytest.param(
            Case(now_h=0, assessments=[assessed(0, crs=1)]), 2, 4, id="CRS 1: 2 h and 4 h"
        ),
        pytest.param(
            Case(now_h=0, assessments=[assessed(0, crs=3)]), 1, 2, id="CRS 3: 1 h and 2 h"
        ),
        pytest.param(
            Case(now_h=0, assessments=[assessed(-4), assessed(0, icans=1)]),
            2,
            0.5,
            id="first ICANS sign: neuro every 30 min",
        ),
    ],
)
def test_next_reassessment_follows_the_cadence(
    protocol: Protocol, case: Case, vitals_h: float, neuro_h: float
) -> None:
    advice = case.advice(protocol)
    assert advice.next_reassessment.vitals_at == at(vitals_h)
    assert advice.next_reassessment.neuro_at == at(neuro_h)
    assert advice.next_reassessment.basis


# ---------------------------------------------------------------------------------------------
# Stated grades (design §5: a mismatch is flagged)


def test_a_stated_grade_that_differs_from_the_computed_one_is_a_warning(
    protocol: Protocol,
) -> None:
    case = Case(now_h=0, assessments=[assessed(0, crs=2, stated=StatedGrades(crs=1, icans=0))])
    advice = case.advice(protocol)
    mismatches = [w for w in advice.warnings if "stated" in w.lower()]
    assert len(mismatches) == 1, advice.warnings
    assert "CRS" in mismatches[0]
    assert "1" in mismatches[0]
    assert "2" in mismatches[0]


def test_stated_grades_that_agree_raise_no_warning(protocol: Protocol) -> None:
    case = Case(now_h=0, assessments=[assessed(0, crs=2, stated=StatedGrades(crs=2, icans=0))])
    advice = case.advice(protocol)
    assert not [w for w in advice.warnings if "stated" in w.lower()], advice.warnings


# ---------------------------------------------------------------------------------------------
# Every recommendation: decision support, cited, versioned; the approval banner (D19, design §6)


def test_every_recommendation_is_worded_as_decision_support(
    protocol: Protocol, scenario: Case
) -> None:
    advice = scenario.advice(protocol)
    assert advice.recommendations
    for r in advice.recommendations:
        assert r.text.startswith(("Consider", "Not offered")), (r.id, r.text)


def test_every_recommendation_carries_a_citation_and_the_protocol_version(
    protocol: Protocol, scenario: Case
) -> None:
    advice = scenario.advice(protocol)
    assert (advice.protocol_id, advice.protocol_version) == (protocol.id, protocol.version)
    for r in advice.recommendations:
        assert r.citation, r.id
        assert set(r.references) == {protocol.reference(c) for c in r.citation}, r.id
        assert r.protocol == protocol.label, r.id
        assert protocol.version in r.protocol, r.id


def test_an_unavailable_recommendation_says_why(protocol: Protocol, scenario: Case) -> None:
    advice = scenario.advice(protocol)
    for r in advice.recommendations:
        if not r.available:
            assert r.availability, r.id


def test_no_tocilizumab_is_offered_against_the_ledger(protocol: Protocol, scenario: Case) -> None:
    """D17: every tocilizumab dose offered agrees with the ledger, and with the headline advice."""
    advice = scenario.advice(protocol)
    for r in advice.recommendations:
        if r.dose is not None and r.dose.drug == Drug.TOCILIZUMAB:
            assert r.available == advice.state.tocilizumab.available_now, r.id
            assert r.dose.mg == advice.tocilizumab.dose_mg, r.id
    if advice.tocilizumab.offered:
        assert advice.state.tocilizumab.available_now


def test_unapproved_protocol_puts_a_banner_on_every_recommendation(
    protocol: Protocol, scenario: Case
) -> None:
    advice = scenario.advice(protocol)
    assert advice.banner
    assert not advice.protocol_approved
    for r in advice.recommendations:
        assert r.protocol.endswith("(UNAPPROVED)"), (r.id, r.protocol)


def test_an_approved_protocol_has_no_banner(default_yaml: dict[str, Any]) -> None:
    approved = edited(default_yaml, _approved)
    assert approved.approval.approved
    advice = refractory_crs().advice(approved)
    assert advice.banner is None
    assert advice.protocol_approved
    assert advice.recommendations
    for r in advice.recommendations:
        assert r.protocol == approved.label
        assert "UNAPPROVED" not in r.protocol
    assert advice_as_dict(advice)["protocol"]["approved"] is True


# ---------------------------------------------------------------------------------------------
# Determinism (design §6: advise is pure)


def test_advise_is_deterministic_for_a_given_now(protocol: Protocol) -> None:
    case = refractory_crs()
    first = case.advice(protocol)
    second = case.advice(protocol)
    assert first == second
    assert json.dumps(advice_as_dict(first)) == json.dumps(advice_as_dict(second))


@pytest.mark.parametrize(
    "wall_clock",
    [
        pytest.param(datetime(1999, 12, 31, 23, 59, tzinfo=UTC), id="before the case"),
        pytest.param(at(12), id="in the middle of the case"),
        pytest.param(datetime(2040, 6, 1, 3, 0, tzinfo=UTC), id="years after"),
    ],
)
def test_advice_does_not_depend_on_the_wall_clock(
    protocol: Protocol, wall_clock: datetime, scenario: Case
) -> None:
    expected = json.dumps(advice_as_dict(scenario.advice(protocol)), sort_keys=True)
    with time_machine.travel(wall_clock, tick=False):
        state = derive_state(scenario.history, protocol, scenario.now)
        moved = advise(state, protocol, scenario.now)
    assert json.dumps(advice_as_dict(moved), sort_keys=True) == expected


def test_nothing_after_now_is_used(protocol: Protocol) -> None:
    """Recorded events later than ``now`` (e.g. entered ahead) do not change the advice."""
    case = three_tocilizumab_in_16_h(now_h=20)
    later = Case(
        now_h=case.now_h,
        assessments=[*case.assessments, assessed(22, crs=3)],
        doses=[*case.doses, tocilizumab(23)],
    )
    assert advice_as_dict(later.advice(protocol)) == advice_as_dict(case.advice(protocol))


# ---------------------------------------------------------------------------------------------
# advice_as_dict: the JSON shape ``toxbot advise`` prints


def test_advice_as_dict_has_the_documented_shape(protocol: Protocol) -> None:
    document = advice_as_dict(refractory_crs().advice(protocol))
    assert json.loads(json.dumps(document)) == document, "plain JSON values only"

    assert document.keys() >= {
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
    assert document["refractory"]["crs"] is True
    assert document["refractory"]["icans"] is False
    assert document["refractory"]["reasons"]

    toci = document["tocilizumab"]
    assert toci.keys() >= {
        "offered",
        "dose_mg",
        "doses_last_24h",
        "doses_total",
        "next_eligible_at",
        "reason",
    }
    assert toci["doses_total"] == 2
    assert toci["next_eligible_at"] is None
    assert document["steroids"]["dexamethasone_equivalent_mg"] == pytest.approx(30)

    assert document["protocol"]["id"] == protocol.id
    assert document["protocol"]["version"] == protocol.version
    assert document["protocol"]["approved"] is False

    nxt = document["next_reassessment"]
    assert datetime.fromisoformat(nxt["vitals_at"]) == at(26)
    assert datetime.fromisoformat(nxt["neuro_at"]) == at(27)

    recommendations = document["recommendations"]
    assert recommendations
    for r in recommendations:
        assert r.keys() >= {"id", "text", "citation"}
        assert r["citation"], r["id"]
    assert isinstance(document["warnings"], list)


def test_advice_as_dict_gives_the_time_the_next_dose_becomes_possible(protocol: Protocol) -> None:
    document = advice_as_dict(three_tocilizumab_in_16_h(now_h=20).advice(protocol))
    toci = document["tocilizumab"]
    assert toci["offered"] is False
    assert toci["doses_last_24h"] == 3
    assert toci["doses_total"] == 3
    assert datetime.fromisoformat(toci["next_eligible_at"]) == at(24)
