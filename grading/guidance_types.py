"""Values the guidance engine produces: the derived case state and the advice (issue 3).

Plain frozen dataclasses: built by the engine from a case's history, never parsed from outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from grading.case import Dose, Lab, Patient, TimedAssessment
from grading.protocol import StepKind, Toxicity
from grading.result import GradingResult, ToxicityGrade


class Trend(StrEnum):
    """How a toxicity moved between the last two assessments that graded it."""

    NEW = "new"  # the first assessment with a grade
    WORSENING = "worsening"
    IMPROVING = "improving"
    UNCHANGED = "unchanged"
    UNKNOWN = "unknown"  # a grade is open (a range) or not assessed


@dataclass(frozen=True, slots=True)
class GradedAssessment:
    """An assessment as graded with the case's facts and history (age, weight, prior treatment)."""

    at: datetime
    assessment: TimedAssessment
    result: GradingResult
    prior_crs_treatment: bool  # derived from doses after CRS onset, or stated (D13)


@dataclass(frozen=True, slots=True)
class ToxicityCourse:
    """One toxicity over the case: now, before, trend, onset and worst."""

    current: ToxicityGrade | None
    current_at: datetime | None
    previous: ToxicityGrade | None
    trend: Trend
    onset_at: datetime | None  # first assessment graded ≥1 (or with a lower bound ≥1)
    max_grade: int | None  # worst determined grade or lower bound so far
    max_grade_at: datetime | None


@dataclass(frozen=True, slots=True)
class TocilizumabLedger:
    """Tocilizumab given against its limits (D17)."""

    doses_total: int
    doses_last_24h: int
    first_at: datetime | None
    last_at: datetime | None
    available_now: bool
    limit_reached: bool  # the 24 h or the total limit (not merely the interval between doses)
    next_eligible_at: datetime | None  # None when available now or never again
    reason: str  # in words, e.g. "3 doses in the last 24 h (limit 3); possible again at ..."
    limit_breaches: tuple[str, ...]  # doses recorded against a limit (stored, flagged)


@dataclass(frozen=True, slots=True)
class SteroidExposure:
    """Corticosteroids given, as dexamethasone-equivalent mg (D18)."""

    dexamethasone_equivalent_mg: float
    started_at: datetime | None
    last_at: datetime | None
    last_24h_mg: float
    previous_24h_mg: float
    regimen: str | None  # the latest dose in words
    rapid_taper: bool
    rapid_taper_reason: str | None


@dataclass(frozen=True, slots=True)
class RefractoryStatus:
    """Refractory CRS and ICANS per the protocol (D14, D15), with the reasons in words."""

    crs: bool
    icans: bool
    reasons: tuple[str, ...]

    @property
    def any(self) -> bool:
        """Either toxicity is refractory."""
        return self.crs or self.icans


@dataclass(frozen=True, slots=True)
class CaseState:
    """Everything the guidance engine needs, derived from a case's history at ``now``."""

    now: datetime
    patient: Patient
    assessments: tuple[GradedAssessment, ...]  # chronological, at or before now
    doses: tuple[Dose, ...]  # chronological, at or before now
    labs: tuple[Lab, ...]  # chronological, at or before now
    crs: ToxicityCourse
    icans: ToxicityCourse
    prior_crs_treatment_at: datetime | None  # first antipyretic/anti-cytokine after CRS onset
    tocilizumab: TocilizumabLedger
    steroids: SteroidExposure
    refractory: RefractoryStatus
    days_since_infusion: float | None
    hours_since_first_tocilizumab: float | None
    hours_since_steroids_started: float | None


@dataclass(frozen=True, slots=True)
class DoseCalculation:
    """A dose the engine computed, with the arithmetic shown."""

    drug: str
    mg: float | None  # None when the weight needed is not recorded
    arithmetic: str
    schedule: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One piece of decision support: what to consider, why, from where, and whether available."""

    id: str
    toxicity: Toxicity
    kind: StepKind
    text: str
    citation: tuple[str, ...]
    references: tuple[str, ...]  # the full references the citations resolve to
    dose: DoseCalculation | None
    available: bool
    availability: str | None  # why not, and when it becomes possible
    unverified: bool
    protocol: str  # the protocol's label, e.g. "toxbot-default 2026.1 (UNAPPROVED)"


@dataclass(frozen=True, slots=True)
class TocilizumabAdvice:
    """Whether tocilizumab is offered now, at what dose, and why (or why not)."""

    offered: bool
    dose_mg: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class NextReassessment:
    """When vitals with a CRS check and the neuro screen are next due (cadence, §0.1)."""

    vitals_at: datetime | None
    neuro_at: datetime | None
    basis: str  # which cadence row applies, in words
    citation: tuple[str, ...]
    reviews_at: tuple[datetime, ...] = ()  # clinician re-reviews of a refractory flag (D16)


@dataclass(frozen=True, slots=True)
class Advice:
    """The guidance engine's answer for one case at one moment."""

    state: CaseState
    recommendations: tuple[Recommendation, ...]
    tocilizumab: TocilizumabAdvice
    next_reassessment: NextReassessment
    protocol_id: str
    protocol_version: str
    protocol_approved: bool
    banner: str | None  # set when the protocol is not approved
    warnings: tuple[str, ...]
