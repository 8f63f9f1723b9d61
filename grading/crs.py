"""ASTCT 2019 CRS grading (Lee et al.; clinical reference §1, decisions D1-D5, D10, D11, D13).

| Grade | Fever*   | Hypotension                         | and/or Hypoxia                       |
|-------|----------|-------------------------------------|--------------------------------------|
| 1     | ≥38.0 °C | none                                | none                                 |
| 2     | ≥38.0 °C | not requiring vasopressors          | low-flow cannula ≤6 L/min, blow-by   |
| 3     | ≥38.0 °C | one vasopressor ± vasopressin       | >6 L/min, facemask, NRB, Venturi     |
| 4     | ≥38.0 °C | multiple vasopressors (not vasopr.) | CPAP, BiPAP, mechanical ventilation  |

*Fever is not needed once antipyretic or anti-cytokine therapy was given for CRS (R-CRS-2).
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Final

from grading.assessment import FLOW_DEVICES, Assessment, AttributableFinding, OxygenDevice
from grading.domains import (
    DomainGrade,
    excluded,
    not_assessed,
    question,
    recorded,
)
from grading.result import Exclusion, Finding, Status, ToxicityGrade

FEVER_C: Final = 38.0  # inclusive (R-CRS-1)
LOW_FLOW_MAX_L_MIN: Final = 6.0  # ≤6 low flow, >6 high flow (R-CRS-4)
INFANT_WEIGHT_KG: Final = 10.0  # D2 note below this weight
CRS_ONSET_WINDOW_DAYS: Final = 14.0  # R-CRS-9

_DEVICE_WORDS: Final = {
    OxygenDevice.ROOM_AIR: "room air",
    OxygenDevice.NASAL_CANNULA: "nasal cannula",
    OxygenDevice.HIGH_FLOW_NASAL_CANNULA: "high-flow nasal cannula",
    OxygenDevice.BLOW_BY: "blow-by oxygen",
    OxygenDevice.FACE_MASK: "facemask",
    OxygenDevice.NONREBREATHER: "non-rebreather mask",
    OxygenDevice.VENTURI: "Venturi mask",
    OxygenDevice.CPAP: "CPAP",
    OxygenDevice.BIPAP: "BiPAP",
    OxygenDevice.MECHANICAL_VENTILATION: "mechanical ventilation",
}

# Devices graded by the device alone (R-CRS-4, D1): grade and ASTCT's words.
_DEVICE_GRADES: Final = {
    OxygenDevice.ROOM_AIR: (0, "no supplemental oxygen needed"),
    OxygenDevice.BLOW_BY: (2, "low-flow oxygen: blow-by"),
    OxygenDevice.FACE_MASK: (3, "facemask, non-rebreather or Venturi mask (whatever the flow)"),
    OxygenDevice.NONREBREATHER: (3, "facemask, non-rebreather or Venturi mask (whatever the flow)"),
    OxygenDevice.VENTURI: (3, "facemask, non-rebreather or Venturi mask (whatever the flow)"),
    OxygenDevice.CPAP: (
        4,
        "positive pressure (CPAP, BiPAP, intubation and mechanical ventilation)",
    ),
    OxygenDevice.BIPAP: (
        4,
        "positive pressure (CPAP, BiPAP, intubation and mechanical ventilation)",
    ),
    OxygenDevice.MECHANICAL_VENTILATION: (
        4,
        "positive pressure (CPAP, BiPAP, intubation and mechanical ventilation)",
    ),
}


def grade_crs(a: Assessment) -> ToxicityGrade:
    """Grade CRS from one assessment by ASTCT 2019 [S3], with decisions D1-D5, D10, D13.

    Fever (R-CRS-1) is needed at onset; once CRS was treated it is not (R-CRS-2, D13). The grade
    is the worse of hypotension and hypoxia (R-CRS-3). An afebrile patient never treated for CRS
    is grade 0 with a warning when hypotension or hypoxia is present (D5).
    """
    fever, fever_domain = _fever(a)
    result = _assemble(fever, fever_domain, _hypotension(a), _hypoxia(a), a.prior_crs_treatment)
    day = a.days_since_infusion
    if day is not None and day > CRS_ONSET_WINDOW_DAYS and _highest(result) >= 1:
        late = (
            f"R-CRS-9: day {day:g} after infusion; new CRS is uncommon more than 14 days after "
            "cell therapy. Consider other causes."
        )
        result = result._replace(warnings=(*result.warnings, late))
    return result


@lru_cache(maxsize=4096)  # pure in immutable domain results: steady traffic repeats them
def _assemble(
    fever: bool | None,
    fever_domain: DomainGrade,
    hypotension: DomainGrade,
    hypoxia: DomainGrade,
    prior_treatment: bool | None,
) -> ToxicityGrade:
    """Combine the fever, hypotension and hypoxia domains into the CRS grade, with its reasons."""
    treated = prior_treatment is True
    organ_low = max(hypotension.low, hypoxia.low)  # R-CRS-3: the worse parameter
    organ_high = max(hypotension.high, hypoxia.high)
    # With the temperature unknown, the grade could be the febrile or the afebrile one (D10).
    fever_states = (True, False) if fever is None else (fever,)
    low = min(_grade(state, organ_low, treated) for state in fever_states)
    high = max(_grade(state, organ_high, treated) for state in fever_states)

    domains = (fever_domain, hypotension, hypoxia)
    findings = tuple(d.finding for d in domains if d.finding is not None)
    exclusions = tuple(d.excluded for d in domains if d.excluded is not None)
    missing = fever_domain.missing + hypotension.missing + hypoxia.missing
    warnings = list(hypotension.warnings + hypoxia.warnings)

    if not findings and not exclusions and prior_treatment is None:
        return ToxicityGrade(
            toxicity="crs",
            status=Status.NOT_ASSESSED,
            grade=None,
            range=None,
            summary="CRS not assessed: no temperature, blood pressure support or oxygen recorded",
            drivers=(),
            findings=(),
            missing=missing,
            excluded=(),
            warnings=(),
            question=question("CRS", 0, 4, missing),
        )
    if fever is False and not treated and organ_low >= 2:
        warnings.append(
            "D5: hypotension or hypoxia without fever in a patient not recorded as treated for "
            "CRS does not meet ASTCT CRS (fever is required at onset). Evaluate other causes "
            "(sepsis, cardiac). If antipyretic or anti-cytokine therapy was given after CRS "
            "onset, record treated=yes and grade again."
        )

    drivers = _drivers(findings, low, fever)
    determined = low == high
    deciding = (
        ()
        if determined
        else _deciding(
            fever_states,
            organ_low,
            organ_high,
            hypotension.missing + hypoxia.missing,
            treated,
        )
    )
    return ToxicityGrade(
        toxicity="crs",
        status=Status.GRADED if determined else Status.UNDETERMINED,
        grade=low if determined else None,
        range=None if determined else (low, high),
        summary=_summary(low, high, drivers, fever, treated, organ_low),
        drivers=drivers,
        findings=findings,
        missing=missing,
        excluded=exclusions,
        warnings=tuple(warnings),
        question=None if determined else question("CRS", low, high, deciding),
    )


def _highest(result: ToxicityGrade) -> int:
    """The highest grade a result allows; 4 when not assessed."""
    if result.grade is not None:
        return result.grade
    return result.range[1] if result.range is not None else 4


def _grade(fever: bool, organ: int, treated: bool) -> int:
    """The CRS grade for one fever state and organ-support grade (R-CRS-1, R-CRS-2, D4, D5)."""
    if fever:
        return max(1, organ)
    return organ if treated else 0


def _deciding(
    fever_states: tuple[bool, ...],
    organ_low: int,
    organ_high: int,
    organ_missing: tuple[str, ...],
    treated: bool,
) -> tuple[str, ...]:
    """Which missing fields would narrow the range: temperature, organ support, or both."""
    fields: list[str] = []
    with_fever = (_grade(True, organ_low, treated), _grade(True, organ_high, treated))
    without = (_grade(False, organ_low, treated), _grade(False, organ_high, treated))
    if len(fever_states) == 2 and with_fever != without:
        fields.append("temperature_c")
    if any(
        _grade(state, organ_low, treated) != _grade(state, organ_high, treated)
        for state in fever_states
    ):
        fields.extend(organ_missing)
    return tuple(fields)


def _fever(a: Assessment) -> tuple[bool | None, DomainGrade]:
    """Fever present, absent or unknown, with the finding that says so (R-CRS-1)."""
    t = a.temperature_c
    if t is None:
        return None, _NO_TEMPERATURE
    return _fever_rule(AttributableFinding.FEVER in a.attributed_elsewhere, t)


_NO_TEMPERATURE: Final = not_assessed(1, "temperature_c")


@lru_cache(maxsize=4096)  # a pure rule; bedside temperatures repeat, so the cache is bounded
def _fever_rule(attributed: bool, t: float) -> tuple[bool, DomainGrade]:
    if attributed:
        return False, excluded(
            Exclusion(
                "fever",
                f"{t:g} °C attributed to another cause by the clinician; not counted as CRS fever",
                "D9",
            )
        )
    if t >= FEVER_C:
        return True, recorded(Finding("fever", f"{t:g} °C", 1, "fever ≥38.0 °C", "R-CRS-1"))
    return False, recorded(Finding("fever", f"{t:g} °C", 0, "no fever (<38.0 °C)", "R-CRS-1"))


def _hypotension(a: Assessment) -> DomainGrade:
    """Hypotension graded by the support it needs, never by a number (R-CRS-5, R-CRS-7, D3)."""
    return _hypotension_rule(
        AttributableFinding.HYPOTENSION in a.attributed_elsewhere,
        a.hypotension,
        a.vasopressors,
        a.vasopressin,
    )


@cache  # a pure rule over a small discrete domain: at most 2 x 3 x 12 x 3 keys
def _hypotension_rule(
    attributed: bool, hypotension: bool | None, n: int | None, vasopressin: bool | None
) -> DomainGrade:
    """The vasopressor count and vasopressin are separate records; one that is not given leaves
    the grade open up to what it could add (D10), so ``hypotension: true`` alone is grade 2-4
    until the vasopressors are recorded.
    """
    if attributed:
        return excluded(
            Exclusion(
                "hypotension", "attributed to another cause by the clinician; not counted", "D9"
            )
        )
    if hypotension is False:
        return recorded(Finding("hypotension", "no hypotension", 0, "no hypotension", "R-CRS-7"))
    finding = _pressor_finding(n, vasopressin, hypotension)
    low = finding.grade if finding is not None else 0
    high, missing = _pressor_ceiling(n, vasopressin, hypotension)
    warnings: tuple[str, ...] = ()
    if finding is not None and finding.rule == "D3" and n == 0:
        warnings = (
            "D3: vasopressin alone is counted as one vasopressor (grade 3); ASTCT does not address "
            "it directly. Multiple vasopressors (grade 4) means two or more non-vasopressin "
            "agents.",
        )
    return DomainGrade(low, max(low, high), finding, missing if high > low else (), None, warnings)


def _pressor_finding(
    n: int | None, vasopressin: bool | None, hypotension: bool | None
) -> Finding | None:
    """The worst hypotension finding the recorded data show, if any."""
    plus = " + vasopressin" if vasopressin else ""
    if n is not None and n >= 2:
        return Finding(
            "hypotension",
            f"{n} vasopressors{plus}",
            4,
            "hypotension requiring multiple vasopressors (excluding vasopressin)",
            "R-CRS-5",
        )
    if n == 1:
        return Finding(
            "hypotension",
            f"1 vasopressor{plus}",
            3,
            "hypotension requiring one vasopressor, with or without vasopressin",
            "R-CRS-5",
        )
    if vasopressin:
        return Finding(
            "hypotension",
            "vasopressin" + (" alone" if n == 0 else ""),
            3,
            "hypotension requiring one vasopressor (vasopressin alone counts as one)",
            "D3",
        )
    if hypotension:
        if n == 0 and vasopressin is False:
            return Finding(
                "hypotension",
                "hypotension, no vasopressor",
                2,
                "hypotension not requiring vasopressors",
                "R-CRS-7",
            )
        return Finding(
            "hypotension",
            "hypotension, vasopressor use not fully recorded",
            2,
            "hypotension (at least grade 2)",
            "R-CRS-7",
        )
    return None


def _pressor_ceiling(
    n: int | None, vasopressin: bool | None, hypotension: bool | None
) -> tuple[int, tuple[str, ...]]:
    """The highest grade the unrecorded parts could still reach, and which fields they are."""
    if n is None:
        return 4, ("vasopressors",) if hypotension or vasopressin else ("hypotension",)
    if n >= 1:
        return (4 if n >= 2 else 3), ()
    if vasopressin is None:
        return 3, ("vasopressin",) if hypotension else ("hypotension",)
    if vasopressin:
        return 3, ()
    return 2, () if hypotension else ("hypotension",)


def _hypoxia(a: Assessment) -> DomainGrade:
    """Hypoxia graded by the oxygen support needed (R-CRS-4, R-CRS-8, D1, D2)."""
    o2 = a.oxygen
    weight = a.weight_kg
    return _hypoxia_rule(
        AttributableFinding.HYPOXIA in a.attributed_elsewhere,
        o2.device if o2 is not None else None,
        o2.flow_l_min if o2 is not None else None,
        weight if weight is not None and weight < INFANT_WEIGHT_KG else None,
    )


@lru_cache(maxsize=4096)  # a pure rule; flows and infant weights vary, so the cache is bounded
def _hypoxia_rule(
    attributed: bool,
    device: OxygenDevice | None,
    flow: float | None,
    infant_weight_kg: float | None,
) -> DomainGrade:
    if attributed:
        return excluded(
            Exclusion("hypoxia", "attributed to another cause by the clinician; not counted", "D9")
        )
    if device is None:
        return not_assessed(4, "oxygen")
    words = _DEVICE_WORDS[device]
    if device not in FLOW_DEVICES:
        grade, criterion = _DEVICE_GRADES[device]
        at_flow = f" at {flow:g} L/min" if flow else ""
        return recorded(Finding("hypoxia", words + at_flow, grade, criterion, "R-CRS-4"))
    domain = _cannula(device, flow, words)
    if infant_weight_kg is not None:
        note = (
            f"D2: ASTCT's 6 L/min cut-off has no pediatric adjustment; it is applied as written "
            f"for this {infant_weight_kg:g} kg patient, although pediatric high-flow is "
            "weight-based."
        )
        domain = domain._replace(warnings=(*domain.warnings, note))
    return domain


def _cannula(device: OxygenDevice, flow: float | None, words: str) -> DomainGrade:
    """Nasal cannula, ordinary or high-flow device: the flow decides (R-CRS-4, D1)."""
    high_flow_device = device is OxygenDevice.HIGH_FLOW_NASAL_CANNULA
    if flow is None:
        if high_flow_device:
            return recorded(
                Finding(
                    "hypoxia",
                    f"{words}, flow not given",
                    3,
                    "high-flow nasal cannula (flow not given, graded as high flow)",
                    "D1",
                ),
                "D1: high-flow nasal cannula with no flow given is graded as high flow (grade 3). "
                "Record the flow (o2=hfnc:L): at ≤6 L/min it is low flow, grade 2.",
            )
        cannula = Finding(
            "hypoxia",
            f"{words}, flow not given",
            2,
            "nasal cannula (low flow ≤6 L/min is grade 2, high flow >6 L/min grade 3)",
            "D1",
        )
        return DomainGrade(2, 3, cannula, ("oxygen.flow_l_min",))
    if flow > LOW_FLOW_MAX_L_MIN:
        return recorded(
            Finding(
                "hypoxia",
                f"{words} {flow:g} L/min",
                3,
                "high-flow nasal cannula (>6 L/min)",
                "R-CRS-4",
            )
        )
    low_flow = Finding(
        "hypoxia",
        f"{words} {flow:g} L/min",
        2,
        "low-flow nasal cannula (≤6 L/min)",
        "D1" if high_flow_device else "R-CRS-4",
    )
    if high_flow_device:
        return recorded(
            low_flow,
            f"D1: a high-flow device at {flow:g} L/min is graded by its flow as low flow "
            "(grade 2).",
        )
    return recorded(low_flow)


def _drivers(findings: tuple[Finding, ...], low: int, fever: bool | None) -> tuple[Finding, ...]:
    """The findings that set the grade: the fever (when it counts) and the worst organ support."""
    fevers = [f for f in findings if f.domain == "fever"]
    if low == 0:
        return tuple(fevers) or findings
    if low == 1:
        return tuple([f for f in fevers if f.grade == 1])
    organ = [f for f in findings if f.domain != "fever" and f.grade == low]
    return tuple(fevers + organ) if fever else tuple(organ)


def _summary(
    low: int,
    high: int,
    drivers: tuple[Finding, ...],
    fever: bool | None,
    treated: bool,
    organ_low: int,
) -> str:
    because = "; ".join([driver.phrase for driver in drivers])
    if low != high:
        return f"CRS grade {low}-{high}, undetermined" + (f": {because}" if because else "")
    if low == 0:
        if fever is False and treated:
            return (
                "CRS grade 0: no grade-defining findings after treatment (resolving or "
                "resolved) (D4)"
            )
        if fever is False and organ_low >= 2:
            return "CRS grade 0: does not meet ASTCT CRS, fever required at onset (D5)"
        temperature = next((d.observed for d in drivers if d.domain == "fever"), None)
        if temperature is None:
            return "CRS grade 0: no CRS fever (the temperature is attributed to another cause)"
        return f"CRS grade 0: no fever ({temperature})"
    prefix = f"CRS grade {low}"
    if treated and not fever:
        prefix += " (fever not required after CRS treatment, R-CRS-2)"
    return f"{prefix}: {because}"
