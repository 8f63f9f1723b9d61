"""Grades per domain, as ranges, and how they combine into one toxicity grade.

Every ASTCT domain (fever, hypotension, hypoxia; encephalopathy screen, consciousness, seizure,
motor, raised ICP) yields the lowest and highest grade its recorded data allow. A recorded finding
gives a single value; a domain with no data spans every grade it could reach, so it can only widen
the result, never lower or invent it (D10). The toxicity grade is the worst domain (R-CRS-3,
R-ICANS-1), and it is *determined* only when the lowest and highest agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Final, NamedTuple

from grading.result import Exclusion, Finding


class DomainGrade(NamedTuple):
    """One domain's contribution: a finding when recorded, else the range it leaves open."""

    low: int
    high: int
    finding: Finding | None = None
    missing: tuple[str, ...] = ()
    excluded: Exclusion | None = None
    warnings: tuple[str, ...] = ()

    @property
    def assessed(self) -> bool:
        """True when this domain counts and its data are recorded (even if only partly)."""
        return self.excluded is None and self.finding is not None


def recorded(finding: Finding, *warnings: str) -> DomainGrade:
    """A domain fully determined by one finding, with any notes that go with it."""
    return DomainGrade(finding.grade, finding.grade, finding, (), None, warnings)


def not_assessed(high: int, *fields: str, low: int = 0) -> DomainGrade:
    """A domain with no data: any grade from ``low`` to ``high`` is possible (D10)."""
    return DomainGrade(low, high, None, fields)


def excluded(exclusion: Exclusion) -> DomainGrade:
    """A domain the clinician attributed to another cause: it counts as no finding (D9)."""
    return DomainGrade(0, 0, None, (), exclusion)


# How to record each field from the text grammar, for questions that a nurse can act on.
HOW_TO_RECORD: Final = {
    "temperature_c": "temperature (temp=38.4 or temp=101.2F)",
    "hypotension": "blood pressure support (bp=normal, bp=low, or pressors=N)",
    "vasopressors": "the number of vasopressors (pressors=N, 0 if none)",
    "vasopressin": "whether vasopressin is given (vasopressin=yes or no)",
    "oxygen": "oxygen support (o2=ra, nc:L, hfnc:L, blowby, mask, nrb, venturi, cpap, bipap, vent)",
    "oxygen.flow_l_min": "the oxygen flow (o2=nc:4)",
    "ice": "the ICE score (ice=N or ice=4+3+1+1+1)",
    "capd": "the CAPD score (capd=N)",
    "consciousness": "the level of consciousness (loc=alert, spontaneous, voice, touch, "
    "unarousable)",
    "seizure": "seizures (seizure=none, brief or prolonged)",
    "motor_weakness": "motor weakness (motor=none or weakness)",
    "cerebral_edema": "cerebral edema (edema=none, focal or diffuse)",
    "papilledema": "papilledema (papilledema=no or yes)",
    "cn6_palsy": "cranial nerve VI palsy (cn6=no or yes)",
    "posturing": "posturing (posturing=no or yes)",
    "cushings_triad": "Cushing's triad (cushing=no or yes)",
}

NEURO_SIGN_FIELDS: Final = (
    "seizure",
    "motor_weakness",
    "cerebral_edema",
    "papilledema",
    "cn6_palsy",
    "posturing",
    "cushings_triad",
)


class Combined(NamedTuple):
    """Domains combined: the grade range, the findings that set it, and what would decide it."""

    low: int
    high: int
    findings: tuple[Finding, ...]
    drivers: tuple[Finding, ...]
    missing: tuple[str, ...]
    deciding: tuple[str, ...]
    excluded: tuple[Exclusion, ...]
    warnings: tuple[str, ...]


def combine(domains: Sequence[DomainGrade]) -> Combined:
    """The worst domain wins (R-CRS-3, R-ICANS-1); open domains widen the range (D10).

    Written as plain loops: it runs for every grade, and each domain names distinct fields.
    """
    low = high = 0
    for domain in domains:
        if domain.low > low:
            low = domain.low
        if domain.high > high:
            high = domain.high
    findings: list[Finding] = []
    drivers: list[Finding] = []
    missing: list[str] = []
    deciding: list[str] = []
    exclusions: list[Exclusion] = []
    warnings: list[str] = []
    for domain in domains:
        finding = domain.finding
        if finding is not None:
            findings.append(finding)
            if finding.grade == low:
                drivers.append(finding)
        if domain.missing:
            missing.extend(domain.missing)
            if domain.high > low:
                deciding.extend(domain.missing)
        if domain.excluded is not None:
            exclusions.append(domain.excluded)
        if domain.warnings:
            warnings.extend(domain.warnings)
    return Combined(
        low,
        high,
        tuple(findings),
        tuple(drivers),
        tuple(missing),
        tuple(deciding),
        tuple(exclusions),
        tuple(warnings),
    )


def question(toxicity: str, low: int, high: int, deciding: Iterable[str]) -> str:
    """Ask for what decides an open grade, in words a nurse can act on (D10)."""
    return _question(toxicity, low, high, _unique(deciding))


@lru_cache(maxsize=1024)  # pure, over a small set of field combinations
def _question(toxicity: str, low: int, high: int, fields: tuple[str, ...]) -> str:
    signs = [name for name in fields if name in NEURO_SIGN_FIELDS]
    asks = [HOW_TO_RECORD.get(name, name) for name in fields if name not in NEURO_SIGN_FIELDS]
    if len(signs) == 1:
        asks.append(HOW_TO_RECORD[signs[0]])
    elif signs:
        asks.append(
            "the neurological findings not yet recorded ("
            + ", ".join(_SIGN_WORDS[name] for name in signs)
            + "): signs=none if there are none, otherwise seizure=, motor=, edema=, "
            "papilledema=, cn6=, posturing=, cushing="
        )
    return f"{toxicity} is grade {low}-{high} on these data. To decide, record " + "; ".join(asks)


_SIGN_WORDS: Final = {
    "seizure": "seizures",
    "motor_weakness": "motor weakness",
    "cerebral_edema": "cerebral edema",
    "papilledema": "papilledema",
    "cn6_palsy": "cranial nerve VI palsy",
    "posturing": "posturing",
    "cushings_triad": "Cushing's triad",
}


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
