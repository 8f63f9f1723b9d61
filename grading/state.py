"""Derive a case's state from its history at a given moment (issue 3; design §2 step 3).

Pure: the history, the protocol and ``now`` in; a :class:`CaseState` out. Only what happened at or
before ``now`` counts, so the same inputs always give the same state. Every assessment is graded
again with the case's facts (age, weight, baseline CAPD, day after infusion) and with prior CRS
treatment derived from the doses given after CRS onset (D13), so a patient who needs a pressor
after tocilizumab is graded CRS 3 without anyone typing ``treated=yes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Final

from grading.case import CORTICOSTEROIDS, CRS_TREATMENTS, CaseHistory, Dose, Drug, hours_between
from grading.case import TimedAssessment as _Timed
from grading.grade import grade
from grading.guidance_types import (
    CaseState,
    GradedAssessment,
    RefractoryStatus,
    SteroidExposure,
    TocilizumabLedger,
    ToxicityCourse,
    Trend,
)
from grading.protocol import Protocol, Refractory, SteroidRule, TocilizumabRule
from grading.result import Status, ToxicityGrade

DAY: Final = timedelta(hours=24)
_AT: Final = attrgetter("at")


def derive_state(
    history: CaseHistory,
    protocol: Protocol,
    now: datetime,
    *,
    previous: CaseState | None = None,
) -> CaseState:
    """The case's state at ``now``: grades and trend, doses against limits, refractory flags.

    ``previous`` is an earlier state of the same case, kept by a caller that records one
    assessment after another. An assessment graded there is reused, not graded again, when
    nothing it was graded with has changed: the same assessment object, the same patient facts
    and the same derived prior treatment (D13). The result is the same as without it; a new
    assessment on a long case then costs one grading instead of the whole history's.
    """
    assessments = sorted((a for a in history.assessments if a.at <= now), key=_AT)
    doses = tuple(sorted((d for d in history.doses if d.at <= now), key=_AT))
    labs = tuple(sorted((lab for lab in history.labs if lab.at <= now), key=_AT))

    reusable = (
        {id(g.assessment): g for g in previous.assessments}
        if previous is not None and previous.patient == history.patient
        else {}
    )
    graded, treated_at = _grade_history(history, assessments, doses, reusable)
    crs = _course(graded, "crs")
    icans = _course(graded, "icans")
    ledger = tocilizumab_ledger(doses, protocol.drugs.tocilizumab, now)
    steroids = steroid_exposure(doses, protocol.drugs.corticosteroids, icans, now)
    refractory = refractory_status(graded, ledger, steroids, protocol.refractory, now)
    infused = history.patient.infused_at
    return CaseState(
        now=now,
        patient=history.patient,
        assessments=graded,
        doses=doses,
        labs=labs,
        crs=crs,
        icans=icans,
        prior_crs_treatment_at=treated_at,
        tocilizumab=ledger,
        steroids=steroids,
        refractory=refractory,
        days_since_infusion=hours_between(infused, now) / 24 if infused else None,
        hours_since_first_tocilizumab=hours_between(ledger.first_at, now)
        if ledger.first_at
        else None,
        hours_since_steroids_started=hours_between(steroids.started_at, now)
        if steroids.started_at
        else None,
    )


def lower_bound(result: ToxicityGrade | None) -> int | None:
    """The grade, or the lowest grade an open range allows; None when not assessed."""
    if result is None:
        return None
    if result.grade is not None:
        return result.grade
    return result.range[0] if result.range is not None else None


# ---------------------------------------------------------------------------------------------
# Grades over time


def _grade_history(
    history: CaseHistory,
    assessments: Sequence[_Timed],
    doses: Sequence[Dose],
    reusable: Mapping[int, GradedAssessment],
) -> tuple[tuple[GradedAssessment, ...], datetime | None]:
    """Grade each assessment with the case's facts and the prior CRS treatment it had (D13).

    ``reusable`` maps ``id(assessment)`` to its grading in an earlier state with the same
    patient. The only other input of a grading is the prior-treatment fact, True when derived or
    else the assessment's own value, so equal flags mean equal inputs and the grading stands.
    """
    patient = history.patient
    treatments = [d for d in doses if d.drug in CRS_TREATMENTS]
    onset: datetime | None = None
    treated_at: datetime | None = None
    graded: list[GradedAssessment] = []
    for assessment in assessments:
        if onset is not None and treated_at is None:
            treated_at = next((d.at for d in treatments if d.at >= onset), None)
        derived = treated_at is not None and treated_at <= assessment.at
        known = reusable.get(id(assessment))
        if (
            known is not None
            and known.assessment is assessment
            and known.prior_crs_treatment == (derived or bool(assessment.prior_crs_treatment))
        ):
            graded.append(known)
            if onset is None and (lower_bound(known.result.crs) or 0) >= 1:
                onset = assessment.at
            continue
        facts: dict[str, object] = {
            "prior_crs_treatment": True if derived else assessment.prior_crs_treatment,
            "age_years": _first(assessment.age_years, patient.age_years),
            "weight_kg": _first(assessment.weight_kg, patient.weight_kg),
            "developmental_delay": _first(
                assessment.developmental_delay, patient.developmental_delay
            ),
            "baseline_capd": _first(assessment.baseline_capd, patient.baseline_capd),
            "days_since_infusion": _first(
                assessment.days_since_infusion,
                max(0.0, hours_between(patient.infused_at, assessment.at) / 24)
                if patient.infused_at
                else None,
            ),
        }
        result = grade(assessment.model_copy(update=facts))
        graded.append(
            GradedAssessment(assessment.at, assessment, result, bool(facts["prior_crs_treatment"]))
        )
        if onset is None and (lower_bound(result.crs) or 0) >= 1:
            onset = assessment.at
    if onset is not None and treated_at is None:
        treated_at = next((d.at for d in treatments if d.at >= onset), None)
    return tuple(graded), treated_at


def _first(*values: object) -> object:
    return next((value for value in values if value is not None), None)


def _course(graded: Sequence[GradedAssessment], side: str) -> ToxicityCourse:
    """One toxicity's course, from the assessments that assessed it (one pass: every reply
    derives it over the whole case)."""
    current: ToxicityGrade | None = None
    previous: ToxicityGrade | None = None
    current_at: datetime | None = None
    onset_at: datetime | None = None
    worst, worst_at = -1, None
    for g in graded:
        result: ToxicityGrade = getattr(g.result, side)
        if result.status is Status.NOT_ASSESSED:
            continue
        previous, current, current_at = current, result, g.at
        bound = lower_bound(result) or 0
        if onset_at is None and bound >= 1:
            onset_at = g.at
        if bound > worst:  # strictly: the earliest assessment at the worst grade
            worst, worst_at = bound, g.at
    if current is None:
        return ToxicityCourse(None, None, None, Trend.UNKNOWN, None, None, None)
    return ToxicityCourse(
        current=current,
        current_at=current_at,
        previous=previous,
        trend=_trend(previous, current),
        onset_at=onset_at,
        max_grade=worst,
        max_grade_at=worst_at,
    )


def _trend(previous: ToxicityGrade | None, current: ToxicityGrade) -> Trend:
    if current.grade is None:
        return Trend.UNKNOWN
    if previous is None:
        return Trend.NEW
    if previous.grade is None:
        return Trend.UNKNOWN
    if current.grade > previous.grade:
        return Trend.WORSENING
    if current.grade < previous.grade:
        return Trend.IMPROVING
    return Trend.UNCHANGED


# ---------------------------------------------------------------------------------------------
# Tocilizumab against its limits (D17)


def tocilizumab_ledger(
    doses: Sequence[Dose], rule: TocilizumabRule, now: datetime
) -> TocilizumabLedger:
    """Doses in the last 24 h and in total, the next time one is allowed, and breaches (D17)."""
    given = [d for d in doses if d.drug is Drug.TOCILIZUMAB and d.at <= now]
    window = [d.at for d in given if d.at > now - DAY]
    total = len(given)
    first_at = given[0].at if given else None
    last_at = given[-1].at if given else None
    counts = (
        f"{len(window)} in the last 24 h (limit {rule.max_doses_24h}), "
        f"{total} in total (limit {rule.max_doses_total})"
    )
    breaches = _breaches(given, rule)

    def ledger(
        available: bool, limit: bool, next_at: datetime | None, reason: str
    ) -> TocilizumabLedger:
        return TocilizumabLedger(
            doses_total=total,
            doses_last_24h=len(window),
            first_at=first_at,
            last_at=last_at,
            available_now=available,
            limit_reached=limit,
            next_eligible_at=next_at,
            reason=reason,
            limit_breaches=breaches,
        )

    if total >= rule.max_doses_total:
        return ledger(
            False,
            True,
            None,
            f"not available: {counts}; the total limit is reached, so no further tocilizumab "
            "under this protocol",
        )
    possible_from = now
    why: list[str] = []
    day_limit = len(window) >= rule.max_doses_24h
    if last_at is not None and last_at + timedelta(hours=rule.min_interval_h) > now:
        possible_from = last_at + timedelta(hours=rule.min_interval_h)
        why.append(
            f"the last dose was {elapsed(last_at, now)} ago "
            f"(minimum {rule.min_interval_h:g} h apart)"
        )
    if day_limit:
        ages_out = window[len(window) - rule.max_doses_24h] + DAY
        possible_from = max(possible_from, ages_out)
        why.append(f"{len(window)} doses in the last 24 h (limit {rule.max_doses_24h})")
    if possible_from <= now:
        return ledger(True, False, None, f"available: {counts}")
    return ledger(
        False,
        day_limit,
        possible_from,
        f"not available now: {'; '.join(why)}; possible again from "
        f"{possible_from.isoformat()} ({counts})",
    )


def elapsed(start: datetime, end: datetime) -> str:
    """The time from ``start`` to ``end`` as a clinician reads it next to a dosing interval:
    whole minutes under an hour ("0 min" for a dose recorded as just given, "30 min"), else
    hours to one decimal ("8.5 h")."""
    hours = hours_between(start, end)
    if hours < 1:
        return f"{max(0, int(hours * 60))} min"
    return f"{hours:.1f} h"


def _breaches(given: Sequence[Dose], rule: TocilizumabRule) -> tuple[str, ...]:
    """Doses recorded against a limit: stored because they happened, flagged (D17)."""
    out: list[str] = []
    for index, dose in enumerate(given):
        when = dose.at.isoformat()
        if index >= rule.max_doses_total:
            out.append(
                f"dose {index + 1} at {when} is over the total limit of {rule.max_doses_total}"
            )
        if index and dose.at - given[index - 1].at < timedelta(hours=rule.min_interval_h):
            gap = elapsed(given[index - 1].at, dose.at)
            out.append(
                f"dose at {when} came {gap} after the previous one "
                f"(minimum {rule.min_interval_h:g} h)"
            )
        in_window = sum(1 for other in given[: index + 1] if other.at > dose.at - DAY)
        if in_window > rule.max_doses_24h:
            out.append(
                f"dose at {when} is dose {in_window} within 24 h (limit {rule.max_doses_24h})"
            )
        if dose.dose_mg > rule.max_dose_mg:
            out.append(
                f"dose at {when} was {dose.dose_mg:g} mg, above the {rule.max_dose_mg:g} mg cap"
            )
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Corticosteroids (D18)


def dexamethasone_equivalent(dose: Dose, rule: SteroidRule) -> float:
    """mg of dexamethasone equal to this corticosteroid dose (D18); 0 for other drugs."""
    factor = rule.dexamethasone_equivalent_mg.get(dose.drug)
    return dose.dose_mg / factor if factor else 0.0


def steroid_exposure(
    doses: Sequence[Dose], rule: SteroidRule, icans: ToxicityCourse, now: datetime
) -> SteroidExposure:
    """Cumulative exposure, the last two days, and a rapid taper while ICANS is active (D18)."""
    given = [d for d in doses if d.drug in CORTICOSTEROIDS and d.at <= now]
    if not given:
        return SteroidExposure(
            dexamethasone_equivalent_mg=0.0,
            started_at=None,
            last_at=None,
            last_24h_mg=0.0,
            previous_24h_mg=0.0,
            regimen=None,
            rapid_taper=False,
            rapid_taper_reason=None,
        )
    total = sum((dexamethasone_equivalent(d, rule) for d in given), 0.0)
    last_24h = sum((dexamethasone_equivalent(d, rule) for d in given if d.at > now - DAY), 0.0)
    previous_24h = sum(
        (dexamethasone_equivalent(d, rule) for d in given if now - 2 * DAY < d.at <= now - DAY),
        0.0,
    )
    last = given[-1]
    route = f" {last.route.value.upper()}" if last.route else ""
    regimen = f"{last.drug.value} {last.dose_mg:g} mg{route} at {last.at.isoformat()}"
    icans_now = lower_bound(icans.current) or 0
    rapid = (
        icans_now >= 1 and previous_24h > 0 and last_24h < rule.rapid_taper_fraction * previous_24h
    )
    reason = (
        f"D18: dexamethasone-equivalent {last_24h:.1f} mg in the last 24 h, down from "
        f"{previous_24h:.1f} mg in the 24 h before (a fall of more than "
        f"{100 * (1 - rule.rapid_taper_fraction):.0f} %) while ICANS is grade {icans_now}; "
        "ICANS flares are reported with rapid tapers"
        if rapid
        else None
    )
    return SteroidExposure(
        dexamethasone_equivalent_mg=round(total, 2),
        started_at=given[0].at,
        last_at=last.at,
        last_24h_mg=round(last_24h, 2),
        previous_24h_mg=round(previous_24h, 2),
        regimen=regimen,
        rapid_taper=rapid,
        rapid_taper_reason=reason,
    )


# ---------------------------------------------------------------------------------------------
# Refractory CRS and ICANS (D14, D15)


def refractory_status(
    graded: Sequence[GradedAssessment],
    ledger: TocilizumabLedger,
    steroids: SteroidExposure,
    rules: Refractory,
    now: datetime,
) -> RefractoryStatus:
    """Refractory flags with their reasons in words (D14, D15)."""
    reasons: list[str] = []
    crs = _refractory_crs(graded, ledger, steroids, rules, reasons)
    icans = _refractory_icans(graded, steroids, rules, now, reasons)
    return RefractoryStatus(crs, icans, tuple(reasons))


def _points(graded: Sequence[GradedAssessment], side: str) -> list[tuple[datetime, int]]:
    out: list[tuple[datetime, int]] = []
    for g in graded:
        bound = lower_bound(getattr(g.result, side))
        if bound is not None:
            out.append((g.at, bound))
    return out


def _grade_at(points: Sequence[tuple[datetime, int]], moment: datetime) -> int | None:
    """The grade recorded last at or before ``moment`` (else the first one after)."""
    before = [grade_ for at, grade_ in points if at <= moment]
    if before:
        return before[-1]
    return points[0][1] if points else None


def _refractory_crs(
    graded: Sequence[GradedAssessment],
    ledger: TocilizumabLedger,
    steroids: SteroidExposure,
    rules: Refractory,
    reasons: list[str],
) -> bool:
    rule = rules.crs
    points = _points(graded, "crs")
    if not points or ledger.first_at is None:
        return False
    current_at, current = points[-1]
    if current < rule.min_grade:
        return False
    steroids_ok = steroids.started_at is not None or not rule.requires_corticosteroids
    first = ledger.first_at
    at_first = _grade_at(points, first)
    assert at_first is not None
    if (
        current_at >= first + timedelta(hours=rule.window_h)
        and ledger.doses_total >= rule.min_tocilizumab_doses
        and steroids_ok
        and current > at_first - 1
    ):
        reasons.append(
            f"D14: refractory CRS: grade {current} {hours_between(first, current_at):.0f} h after "
            f"the first tocilizumab dose (grade {at_first} then), not improved by at least one "
            f"grade despite {ledger.doses_total} tocilizumab doses and corticosteroids"
        )
        return True
    if steroids.started_at is not None:
        both = max(first, steroids.started_at)
        at_both = _grade_at(points, both)
        if at_both is not None and current_at > both and current > at_both:
            reasons.append(
                f"D14: refractory CRS: worsened from grade {at_both} to {current} after both "
                "tocilizumab and corticosteroids were given"
            )
            return True
    # "Once the tocilizumab limit is reached" is read as the total limit: the 24 h cap lifts by
    # itself within hours and would call CRS refractory before the 24 h window of the first
    # clause, with no corticosteroids given. A decision for the clinical lead to confirm (D14).
    total_reached = not ledger.available_now and ledger.next_eligible_at is None
    if total_reached and ledger.last_at is not None and current_at >= ledger.last_at:
        reasons.append(
            f"D14: refractory CRS: grade {current} persists with the tocilizumab limit reached "
            f"({ledger.reason})"
        )
        return True
    return False


def _refractory_icans(
    graded: Sequence[GradedAssessment],
    steroids: SteroidExposure,
    rules: Refractory,
    now: datetime,
    reasons: list[str],
) -> bool:
    rule = rules.icans
    points = _points(graded, "icans")
    started = steroids.started_at
    if not points or started is None:
        return False
    current_at, current = points[-1]
    if current < rule.min_grade:
        return False
    at_start = _grade_at(points, started)
    assert at_start is not None
    if current_at >= started + timedelta(hours=rule.window_h) and current > at_start - 1:
        reasons.append(
            f"D15: refractory ICANS: grade {current} {hours_between(started, current_at):.0f} h "
            f"after corticosteroids started (grade {at_start} then), not improved by at least "
            "one grade"
        )
        return True
    on_steroids = steroids.last_at is not None and now - steroids.last_at <= timedelta(
        hours=rule.on_steroids_within_h
    )
    if on_steroids and current_at > started and current > at_start:
        reasons.append(
            f"D15: refractory ICANS: worsened from grade {at_start} to {current} while on "
            "corticosteroids"
        )
        return True
    return False
