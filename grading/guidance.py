"""The guidance engine: case state + protocol → advice (design §6, issue 3).

Pure and deterministic: ``advise(state, protocol, now)`` reads no clock and no file. Each
recommendation is a protocol step whose conditions hold, worded as decision support (D19), with
its citation resolved to a full reference, the protocol version, any dose computed with the
arithmetic shown, and whether it is available now (a dose that would break a limit is shown as
not available, with why and when it becomes possible, never offered).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from grading.case import Analyte, Drug, Lab, hours_between
from grading.grammar import StatedGrades, stated_mismatches
from grading.guidance_types import (
    Advice,
    CaseState,
    DoseCalculation,
    NextReassessment,
    Recommendation,
    TocilizumabAdvice,
)
from grading.protocol import (
    CadenceRow,
    DoseSpec,
    IecHsScreen,
    Protocol,
    Step,
    StepKind,
    TocilizumabRule,
    Toxicity,
    When,
)
from grading.state import lower_bound

UNAPPROVED_BANNER: Final = (
    "UNAPPROVED PROTOCOL: this guidance comes from a protocol no clinician has approved for use "
    "here. Decision support only; follow your institution's approved protocol."
)


@dataclass(frozen=True, slots=True)
class _Context:
    """What step conditions are tested against."""

    crs: int | None
    icans: int | None
    product: str | None
    weight_kg: float | None
    refractory_crs: bool
    refractory_icans: bool
    on_corticosteroids: bool
    crs_hours_since_onset: float | None


def advise(state: CaseState, protocol: Protocol, now: datetime) -> Advice:
    """Advice for a case at ``now`` under ``protocol``: deterministic for the same inputs."""
    context = _Context(
        crs=lower_bound(state.crs.current),
        icans=lower_bound(state.icans.current),
        product=state.patient.product.lower() if state.patient.product else None,
        weight_kg=state.patient.weight_kg,
        refractory_crs=state.refractory.crs,
        refractory_icans=state.refractory.icans,
        on_corticosteroids=state.steroids.started_at is not None,
        crs_hours_since_onset=hours_between(state.crs.onset_at, now)
        if state.crs.onset_at
        else None,
    )
    recommendations = [
        _recommendation(step, state, protocol)
        for step in protocol.steps
        if _applies(step.when, context)
    ]
    screen = iec_hs_screen(state.labs, protocol.iec_hs)
    if screen is not None:
        recommendations.append(_iec_hs_recommendation(screen, protocol))
    upcoming = next_reassessment(state, protocol, now)
    return Advice(
        state=state,
        recommendations=tuple(recommendations),
        tocilizumab=_tocilizumab_advice(state, recommendations, context),
        next_reassessment=upcoming,
        protocol_id=protocol.id,
        protocol_version=protocol.version,
        protocol_approved=protocol.approval.approved,
        banner=None if protocol.approval.approved else UNAPPROVED_BANNER,
        warnings=tuple(_warnings(state) + _overdue(state, upcoming, now)),
    )


# ---------------------------------------------------------------------------------------------
# Steps


def _applies(when: When, c: _Context) -> bool:
    """All the step's conditions hold (an undetermined grade counts at its lower bound).

    Checked in turn, the first that fails deciding: every step is checked on every reply."""
    if when.crs_grades is not None and (c.crs is None or c.crs not in when.crs_grades):
        return False
    if when.icans_grades is not None and (c.icans is None or c.icans not in when.icans_grades):
        return False
    if when.concurrent_crs is not None and when.concurrent_crs != ((c.crs or 0) >= 1):
        return False
    if when.products is not None and (c.product is None or c.product not in when.products):
        return False
    if when.refractory is not None and not (
        (when.refractory == "any" and (c.refractory_crs or c.refractory_icans))
        or (when.refractory == Toxicity.CRS and c.refractory_crs)
        or (when.refractory == Toxicity.ICANS and c.refractory_icans)
    ):
        return False
    if when.max_weight_kg is not None and (
        c.weight_kg is None or c.weight_kg >= when.max_weight_kg
    ):
        return False
    if when.min_weight_kg is not None and (c.weight_kg is None or c.weight_kg < when.min_weight_kg):
        return False
    if when.on_corticosteroids is not None and when.on_corticosteroids != c.on_corticosteroids:
        return False
    return when.crs_min_hours_since_onset is None or (
        c.crs_hours_since_onset is not None
        and c.crs_hours_since_onset >= when.crs_min_hours_since_onset
    )


def _recommendation(step: Step, state: CaseState, protocol: Protocol) -> Recommendation:
    dose = _dose(step.dose, state.patient.weight_kg, protocol.drugs.tocilizumab)
    available, availability = True, None
    if step.dose is not None and step.dose.drug is Drug.TOCILIZUMAB:
        ledger = state.tocilizumab
        available = ledger.available_now and dose is not None and dose.mg is not None
        if not ledger.available_now:
            availability = f"tocilizumab {ledger.reason}"
        elif dose is not None and dose.mg is None:
            availability = "the dose needs the patient's weight: record it to compute the dose"
    elif dose is not None and dose.mg is None:
        available = False
        availability = "the dose needs the patient's weight: record it to compute the dose"
    elif step.kind is StepKind.LADDER and step.dose is not None:
        passed = _rung_passed(step.dose, state, protocol)
        if passed is not None:
            available, availability = False, passed
    return Recommendation(
        id=step.id,
        toxicity=step.toxicity,
        kind=step.kind,
        text=step.text,
        citation=step.citation,
        references=protocol.step_references[step.id],
        dose=dose,
        available=available,
        availability=availability,
        unverified=step.unverified,
        protocol=protocol.label,
    )


def _rung_passed(spec: DoseSpec, state: CaseState, protocol: Protocol) -> str | None:
    """Why a corticosteroid rung is below what is given now (D16 offers the next rungs)."""
    factor = protocol.drugs.corticosteroids.dexamethasone_equivalent_mg.get(spec.drug)
    if factor is None or spec.mg is None or spec.doses_per_day is None:
        return None
    daily = spec.mg * spec.doses_per_day / factor
    given = state.steroids.last_24h_mg
    if given < daily:
        return None
    return (
        f"a rung already passed: {given:.0f} mg dexamethasone-equivalent in the last 24 h is at or "
        f"above this rung's {daily:.0f} mg/day"
    )


def _dose(
    spec: DoseSpec | None, weight_kg: float | None, tocilizumab: TocilizumabRule
) -> DoseCalculation | None:
    """The dose with its arithmetic shown; ``mg`` is None when the weight is not recorded."""
    if spec is None:
        return None
    drug = spec.drug.value
    if spec.drug is Drug.TOCILIZUMAB:
        return tocilizumab_dose(tocilizumab, weight_kg, spec.schedule)
    if spec.mg is not None:
        return DoseCalculation(drug, spec.mg, f"{spec.mg:g} mg (fixed dose)", spec.schedule)
    assert spec.mg_per_kg is not None
    return _per_kg(drug, spec.mg_per_kg, spec.max_mg, weight_kg, spec.schedule, "")


def tocilizumab_dose(
    rule: TocilizumabRule, weight_kg: float | None, schedule: str = ""
) -> DoseCalculation:
    """8 mg/kg capped at 800 mg; 12 mg/kg under 30 kg (protocol defaults, D17)."""
    per_kg, why = rule.mg_per_kg, ""
    if weight_kg is not None:
        for band in sorted(rule.weight_bands, key=lambda b: b.below_kg):
            if weight_kg < band.below_kg:
                per_kg, why = band.mg_per_kg, f" (patient under {band.below_kg:g} kg)"
                break
    return _per_kg("tocilizumab", per_kg, rule.max_dose_mg, weight_kg, schedule, why)


def _per_kg(
    drug: str,
    per_kg: float,
    max_mg: float | None,
    weight_kg: float | None,
    schedule: str,
    why: str,
) -> DoseCalculation:
    cap = f", max {max_mg:g} mg" if max_mg is not None else ""
    if weight_kg is None:
        return DoseCalculation(
            drug, None, f"{per_kg:g} mg/kg{cap}: weight not recorded, dose not computed", schedule
        )
    raw = round(per_kg * weight_kg, 1)
    arithmetic = f"{per_kg:g} mg/kg × {weight_kg:g} kg = {raw:g} mg{why}"
    if max_mg is not None and raw > max_mg:
        return DoseCalculation(drug, max_mg, f"{arithmetic}, capped at {max_mg:g} mg", schedule)
    return DoseCalculation(drug, raw, arithmetic, schedule)


def _tocilizumab_advice(
    state: CaseState, recommendations: Sequence[Recommendation], context: _Context
) -> TocilizumabAdvice:
    offers = [r for r in recommendations if r.dose is not None and r.dose.drug == "tocilizumab"]
    ledger = state.tocilizumab
    if offers:
        offer = offers[0]
        assert offer.dose is not None
        if offer.available:
            return TocilizumabAdvice(
                True,
                offer.dose.mg,
                f"offered per protocol: {offer.dose.arithmetic}; {ledger.reason}",
            )
        return TocilizumabAdvice(False, offer.dose.mg, offer.availability or ledger.reason)
    cautions = [
        r for r in recommendations if r.kind is StepKind.CAUTION and "tocilizumab" in r.text
    ]
    if cautions:
        return TocilizumabAdvice(False, None, cautions[0].text)
    return TocilizumabAdvice(
        False,
        None,
        f"not indicated by the protocol at CRS grade {_shown(context.crs)} and ICANS grade "
        f"{_shown(context.icans)}; {ledger.reason}",
    )


def _shown(grade: int | None) -> str:
    return "not assessed" if grade is None else str(grade)


# ---------------------------------------------------------------------------------------------
# IEC-HS lab screen (unverified criteria, clinical reference §5.1)

# Units each analyte is read in; a lab in another unit is not converted silently but reported.
_UNITS: Final = {
    Analyte.FERRITIN: frozenset({"ng/ml", "µg/l", "ug/l", "mcg/l"}),
    Analyte.PLATELETS: frozenset({"10^9/l", "x10^9/l", "10*9/l", "k/ul", "10^3/ul", "x10^3/ul"}),
    Analyte.ANC: frozenset({"10^9/l", "x10^9/l", "10*9/l", "k/ul", "10^3/ul", "x10^3/ul"}),
    Analyte.ALT: frozenset({"u/l", "iu/l"}),
    Analyte.FIBRINOGEN: frozenset({"mg/dl"}),
    Analyte.LDH: frozenset({"u/l", "iu/l"}),
    Analyte.TRIGLYCERIDES: frozenset({"mg/dl"}),
}


@dataclass(frozen=True, slots=True)
class IecHsFinding:
    """Why the IEC-HS screen is positive, in words, and labs it could not read."""

    ferritin: str
    others: tuple[str, ...]
    unread: tuple[str, ...]


def iec_hs_screen(labs: Sequence[Lab], rule: IecHsScreen) -> IecHsFinding | None:
    """A screen for IEC-HS: ferritin high or rising fast, plus one more HLH-like feature.

    [UNVERIFIED] The criteria were not confirmed against Hines 2023 (clinical reference §5.1);
    they live in the protocol and are shown as unverified wherever they surface.
    """
    latest: dict[Analyte, Lab] = {}
    unread: list[str] = []
    for lab in labs:
        units = _UNITS.get(lab.analyte)
        if units is None:
            continue
        if lab.unit.strip().lower().replace(" ", "") not in units:
            unread.append(
                f"{lab.analyte.value} in {lab.unit!r} (the screen reads {sorted(units)[0]})"
            )
            continue
        latest[lab.analyte] = lab
    ferritin = latest.get(Analyte.FERRITIN)
    if ferritin is None:
        return None
    limit = rule.ferritin_uln_ng_ml * rule.ferritin_times_uln
    earlier = [
        lab.value
        for lab in labs
        if lab.analyte is Analyte.FERRITIN
        and ferritin.at - timedelta(hours=48) <= lab.at < ferritin.at
        and lab.value > 0
    ]
    rising = bool(earlier) and ferritin.value >= min(earlier) * (
        1 + rule.ferritin_rise_fraction_48h
    )
    if ferritin.value <= limit and not rising:
        return None
    why_ferritin = (
        f"ferritin {ferritin.value:g} ng/mL"
        + (
            f" (> {rule.ferritin_times_uln:g}× ULN {rule.ferritin_uln_ng_ml:g})"
            if ferritin.value > limit
            else ""
        )
        + (f" (up from {min(earlier):g} within 48 h)" if rising else "")
    )
    others = _hlh_features(latest, rule)
    if not others:
        return None
    return IecHsFinding(why_ferritin, tuple(others), tuple(unread))


def _hlh_features(latest: dict[Analyte, Lab], rule: IecHsScreen) -> list[str]:
    checks: tuple[tuple[Analyte, Callable[[float], bool], str], ...] = (
        (Analyte.PLATELETS, lambda v: v < rule.platelets_below, f"< {rule.platelets_below:g}"),
        (Analyte.ANC, lambda v: v < rule.anc_below, f"< {rule.anc_below:g}"),
        (
            Analyte.ALT,
            lambda v: v > rule.alt_uln * rule.alt_times_uln,
            f"> {rule.alt_times_uln:g}× ULN {rule.alt_uln:g}",
        ),
        (
            Analyte.FIBRINOGEN,
            lambda v: v < rule.fibrinogen_below_mg_dl,
            f"< {rule.fibrinogen_below_mg_dl:g}",
        ),
        (Analyte.LDH, lambda v: v > rule.ldh_uln, f"> ULN {rule.ldh_uln:g}"),
        (
            Analyte.TRIGLYCERIDES,
            lambda v: v > rule.triglycerides_above_mg_dl,
            f"> {rule.triglycerides_above_mg_dl:g}",
        ),
    )
    found: list[str] = []
    for analyte, abnormal, threshold in checks:
        lab = latest.get(analyte)
        if lab is not None and abnormal(lab.value):
            found.append(f"{analyte.value} {lab.value:g} {lab.unit} ({threshold})")
    return found


def _iec_hs_recommendation(screen: IecHsFinding, protocol: Protocol) -> Recommendation:
    rule = protocol.iec_hs
    text = (
        "[UNVERIFIED] Consider, per protocol: evaluating for IEC-HS (HLH-like syndrome): "
        f"{screen.ferritin} with {'; '.join(screen.others)}. These screen criteria were not "
        "verified against the ASTCT IEC-HS consensus (Hines 2023); confirm before acting."
    )
    if screen.unread:
        text += " Not read (unit): " + "; ".join(screen.unread) + "."
    return Recommendation(
        id="iec-hs-screen",
        toxicity=Toxicity.CRS,
        kind=StepKind.WORKUP,
        text=text,
        citation=rule.citation,
        references=tuple(dict.fromkeys(protocol.reference(c) for c in rule.citation)),
        dose=None,
        available=True,
        availability=None,
        unverified=True,
        protocol=protocol.label,
    )


# ---------------------------------------------------------------------------------------------
# Reassessment cadence (clinical reference §0.1)


def next_reassessment(state: CaseState, protocol: Protocol, now: datetime) -> NextReassessment:
    """When vitals with a CRS check and the neuro screen are next due, from the cadence."""
    cadence = protocol.cadence
    crs, icans = lower_bound(state.crs.current) or 0, lower_bound(state.icans.current) or 0
    row: CadenceRow | None
    if state.refractory.any:
        row, basis = cadence.refractory, "refractory CRS or ICANS"
    elif max(crs, icans) >= 3:
        row, basis = cadence.grade_3, f"CRS grade {crs}, ICANS grade {icans} (grade 3 or more)"
    elif max(crs, icans) >= 1:
        row, basis = cadence.grade_1, f"CRS grade {crs}, ICANS grade {icans} (grade 1 or more)"
    elif state.days_since_infusion is None or state.days_since_infusion <= cadence.monitoring_days:
        row, basis = cadence.no_toxicity, "active case without toxicity, in the monitoring window"
    else:
        return NextReassessment(
            None,
            None,
            f"day {state.days_since_infusion:.0f} after infusion, past the "
            f"{cadence.monitoring_days:g}-day monitoring window, no toxicity: no routine "
            "reassessment due",
            (),
        )
    last = state.assessments[-1].at if state.assessments else now
    last_vitals = state.crs.current_at or last
    last_neuro = state.icans.current_at or last
    neuro_interval = timedelta(hours=row.neuro_h)
    onset = state.icans.onset_at
    if onset is not None and now - onset < timedelta(hours=cadence.first_icans_sign_for_h):
        neuro_interval = min(neuro_interval, timedelta(minutes=cadence.first_icans_sign_neuro_min))
        basis += (
            f"; first ICANS sign within {cadence.first_icans_sign_for_h:g} h: neuro every "
            f"{cadence.first_icans_sign_neuro_min:g} min"
        )
    flagged_at = last if state.refractory.any else None
    return NextReassessment(
        vitals_at=last_vitals + timedelta(hours=row.vitals_h),
        neuro_at=last_neuro + neuro_interval,
        basis=basis,
        citation=row.citation,
        reviews_at=tuple(
            flagged_at + timedelta(hours=h) for h in protocol.refractory.review_after_h
        )
        if flagged_at is not None
        else (),
    )


# ---------------------------------------------------------------------------------------------
# Warnings


def _warnings(state: CaseState) -> list[str]:
    out: list[str] = []
    for name, course in (("CRS", state.crs), ("ICANS", state.icans)):
        current = course.current
        if current is not None and current.grade is None and current.range is not None:
            low, high = current.range
            out.append(
                f"{name} is grade {low}-{high} (undetermined): guidance is shown for grade {low}. "
                f"{current.question or ''}".strip()
            )
    if state.steroids.rapid_taper and state.steroids.rapid_taper_reason:
        out.append(f"Rapid corticosteroid taper: {state.steroids.rapid_taper_reason}.")
    out.extend(f"D17: tocilizumab {breach}" for breach in state.tocilizumab.limit_breaches)
    if state.assessments:
        last = state.assessments[-1]
        stated = last.assessment.stated
        if stated is not None:
            out.extend(
                stated_mismatches(last.result, StatedGrades(crs=stated.crs, icans=stated.icans))
            )
    if state.patient.weight_kg is None:
        out.append("Weight not recorded: weight-based doses are not computed.")
    return out


def _overdue(state: CaseState, upcoming: NextReassessment, now: datetime) -> list[str]:
    """Say when a grade shown is older than the cadence allows: the reassessment is overdue."""
    out: list[str] = []
    for what, due, course in (
        ("Vitals with a CRS check", upcoming.vitals_at, state.crs),
        ("The ICE/CAPD neuro screen", upcoming.neuro_at, state.icans),
    ):
        if due is not None and due < now and course.current_at is not None:
            late = hours_between(due, now)
            out.append(
                f"{what} was due at {due.isoformat()} ({late:.1f} h overdue); the grade shown is "
                f"from {course.current_at.isoformat()}."
            )
    return out


# ---------------------------------------------------------------------------------------------
# JSON


def advice_as_dict(advice: Advice) -> dict[str, Any]:
    """The advice as JSON-ready data (the `toxbot advise` output, issue 3)."""
    state = advice.state
    ledger = state.tocilizumab
    steroids = state.steroids
    nxt = advice.next_reassessment
    return {
        "as_of": state.now.isoformat(),
        "crs": state.crs.current.as_dict() if state.crs.current else None,
        "icans": state.icans.current.as_dict() if state.icans.current else None,
        "trend": {"crs": state.crs.trend.value, "icans": state.icans.trend.value},
        "max_grades": {"crs": state.crs.max_grade, "icans": state.icans.max_grade},
        "refractory": {
            "crs": state.refractory.crs,
            "icans": state.refractory.icans,
            "reasons": list(state.refractory.reasons),
        },
        "tocilizumab": {
            "offered": advice.tocilizumab.offered,
            "dose_mg": advice.tocilizumab.dose_mg,
            "doses_last_24h": ledger.doses_last_24h,
            "doses_total": ledger.doses_total,
            "next_eligible_at": _iso(ledger.next_eligible_at),
            "reason": advice.tocilizumab.reason,
        },
        "steroids": {
            "dexamethasone_equivalent_mg": steroids.dexamethasone_equivalent_mg,
            "last_24h_mg": steroids.last_24h_mg,
            "previous_24h_mg": steroids.previous_24h_mg,
            "started_at": _iso(steroids.started_at),
            "regimen": steroids.regimen,
            "rapid_taper": steroids.rapid_taper,
        },
        "recommendations": [_recommendation_dict(r) for r in advice.recommendations],
        "next_reassessment": {
            "vitals_at": _iso(nxt.vitals_at),
            "neuro_at": _iso(nxt.neuro_at),
            "basis": nxt.basis,
            "citation": list(nxt.citation),
            "refractory_reviews_at": [moment.isoformat() for moment in nxt.reviews_at],
        },
        "protocol": {
            "id": advice.protocol_id,
            "version": advice.protocol_version,
            "approved": advice.protocol_approved,
        },
        "banner": advice.banner,
        "warnings": list(advice.warnings),
    }


def _recommendation_dict(r: Recommendation) -> dict[str, Any]:
    return {
        "id": r.id,
        "toxicity": r.toxicity.value,
        "kind": r.kind.value,
        "text": r.text,
        "citation": list(r.citation),
        "references": list(r.references),
        "dose": None
        if r.dose is None
        else {
            "drug": r.dose.drug,
            "mg": r.dose.mg,
            "arithmetic": r.dose.arithmetic,
            "schedule": r.dose.schedule,
        },
        "available": r.available,
        "availability": r.availability,
        "unverified": r.unverified,
        "protocol": r.protocol,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
