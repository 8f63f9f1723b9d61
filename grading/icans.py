"""ASTCT 2019 ICANS grading for adults (ICE) and children (CAPD): clinical reference §2,
decisions D6-D11.

| Domain                 | G1                    | G2              | G3                          | G4                                   |
|------------------------|-----------------------|-----------------|-----------------------------|--------------------------------------|
| ICE                    | 7-9                   | 3-6             | 0-2                         | 0, unarousable                       |
| CAPD (children)        | 1-8 (+ consciousness) | 1-8, to voice   | ≥9                          | unable to perform, unarousable       |
| Consciousness          | awakens spontaneously | awakens to voice| awakens only to touch       | unarousable, stupor or coma          |
| Seizure                |                       |                 | resolves rapidly            | prolonged (>5 min) or repetitive     |
| Motor                  |                       |                 |                             | deep focal motor weakness            |
| Raised ICP / edema     |                       |                 | focal/local edema           | diffuse edema, posturing, CN VI palsy, papilledema, Cushing's triad |

The grade is the most severe domain not attributable to another cause (R-ICANS-1).
"""  # noqa: E501

from __future__ import annotations

from typing import Final

from grading.assessment import (
    Assessment,
    AttributableFinding,
    CerebralEdema,
    Consciousness,
    Seizure,
)
from grading.domains import (
    DomainGrade,
    combine,
    excluded,
    not_assessed,
    question,
    recorded,
)
from grading.result import Exclusion, Finding, NeuroTool, Status, ToxicityGrade

ICE_AGE_YEARS: Final = 12.0  # ICE from 12; CAPD under 12, and at exactly 12 (D6)
CAPD_POSITIVE: Final = 9  # ≥9 is a positive delirium screen, grade 3 (D7)

_ATTRIBUTED: Final = "attributed to another cause by the clinician; not counted"

# (grade, ASTCT words, rule) for each level of consciousness (clinical reference §2.3).
_CONSCIOUSNESS: Final = {
    Consciousness.ALERT: (0, "alert, no depressed level of consciousness", "R-ICANS-1"),
    Consciousness.AWAKENS_SPONTANEOUSLY: (
        1,
        "depressed level of consciousness: awakens spontaneously",
        "R-ICANS-6",
    ),
    Consciousness.AWAKENS_TO_VOICE: (
        2,
        "depressed level of consciousness: awakens to voice",
        "R-ICANS-1",
    ),
    Consciousness.AWAKENS_TO_TACTILE: (
        3,
        "depressed level of consciousness: awakens only to tactile stimulus",
        "R-ICANS-1",
    ),
    Consciousness.UNAROUSABLE: (
        4,
        "unarousable, or needs vigorous or repetitive tactile stimuli to arouse; stupor or coma",
        "R-ICANS-1",
    ),
}

_SEIZURE: Final = {
    Seizure.NONE: (0, "no seizure"),
    Seizure.RAPID_RESOLUTION: (
        3,
        "any clinical seizure, focal or generalized, that resolves "
        "rapidly, or non-convulsive seizures on EEG that resolve with "
        "intervention",
    ),
    Seizure.PROLONGED_OR_REPETITIVE: (
        4,
        "life-threatening prolonged seizure (>5 min), or "
        "repetitive clinical or electrical seizures without "
        "return to baseline in between",
    ),
}

_EDEMA: Final = {
    CerebralEdema.NONE: (0, "no cerebral edema"),
    CerebralEdema.FOCAL: (3, "focal or local edema on neuroimaging"),
    CerebralEdema.DIFFUSE: (4, "diffuse cerebral edema on neuroimaging"),
}

_ICP_SIGNS: Final = (
    ("papilledema", "papilledema"),
    ("cn6_palsy", "cranial nerve VI palsy"),
    ("posturing", "decerebrate or decorticate posturing"),
    ("cushings_triad", "Cushing's triad"),
)


def grade_icans(a: Assessment) -> ToxicityGrade:
    """Grade ICANS from one assessment by ASTCT 2019 [S4][S5] and decisions D6-D11.

    Each domain counts only when recorded and not attributed to another cause; a missing domain
    leaves the grade open rather than counting as normal (D10). With neither the encephalopathy
    screen nor consciousness counted, ICANS is not assessable unless an objective finding grades
    it (D9).
    """
    tool = _tool(a)
    screen = _ice(a) if tool is not NeuroTool.CAPD else _capd(a)
    consciousness = _consciousness(a, tool)
    domains = (screen, consciousness, _seizure(a), _motor(a), _raised_icp(a))
    combined = combine(domains)
    exclusions = combined.excluded + _never_graded(a)
    warnings = list(_tool_warnings(a, tool)) + list(combined.warnings)
    if a.global_aphasia and a.ice_total:
        warnings.append(
            f"R-ICANS-2: global aphasia is recorded with ICE {a.ice_total}; a globally aphasic "
            "patient usually scores ICE 0. Check both."
        )
    warnings.extend(_shared_cause_warnings(a, tool))

    low, high = combined.low, combined.high
    core_counted = screen.assessed or consciousness.assessed
    if not core_counted and low == 0:
        why = (
            "excluded as attributable to another cause"
            if screen.excluded or consciousness.excluded
            else "not recorded"
        )
        return ToxicityGrade(
            toxicity="icans",
            status=Status.NOT_ASSESSED,
            grade=None,
            range=None,
            summary=f"ICANS not assessable: encephalopathy screen and level of consciousness "
            f"{why}; this is not grade 0 (D9)",
            drivers=(),
            findings=combined.findings,
            missing=combined.missing,
            excluded=exclusions,
            warnings=tuple(warnings),
            question=question("ICANS", 0, 4, _core_fields(tool) + combined.deciding),
            tool=tool,
        )

    determined = low == high
    drivers = combined.drivers
    if determined:
        summary = f"ICANS grade {low}: " + _because(drivers)
    else:
        summary = f"ICANS grade {low}-{high}, undetermined" + (
            f": {_because(drivers)}" if drivers else ""
        )
    return ToxicityGrade(
        toxicity="icans",
        status=Status.GRADED if determined else Status.UNDETERMINED,
        grade=low if determined else None,
        range=None if determined else (low, high),
        summary=summary,
        drivers=drivers,
        findings=combined.findings,
        missing=combined.missing,
        excluded=exclusions,
        warnings=tuple(warnings),
        question=None if determined else _question(a, low, high, combined.deciding),
        tool=tool,
    )


def _tool(a: Assessment) -> NeuroTool | None:
    if a.ice_total is not None:
        return NeuroTool.ICE
    if a.capd is not None:
        return NeuroTool.CAPD
    return None


def _core_fields(tool: NeuroTool | None) -> tuple[str, ...]:
    return ("capd" if tool is NeuroTool.CAPD else "ice", "consciousness")


def _tool_warnings(a: Assessment, tool: NeuroTool | None) -> list[str]:
    """D6: ICE from 12 years, CAPD under 12, at 12, or with developmental delay."""
    age = a.age_years
    if tool is None:
        return []
    if age is None:
        return [
            f"D6: age not recorded, so the choice of {tool.value.upper()} could not be "
            "checked (ICE from 12 years; CAPD under 12 or with developmental delay)."
        ]
    if tool is NeuroTool.ICE and age < ICE_AGE_YEARS:
        return [
            f"D6: ICE used at age {age:g}; CAPD is the tool under 12 years. The ICE result is "
            "graded as given."
        ]
    if tool is NeuroTool.CAPD and age >= ICE_AGE_YEARS + 1 and not a.developmental_delay:
        return [
            f"D6: CAPD used at age {age:g} without developmental delay; ICE is the tool from "
            "12 years. The CAPD result is graded as given."
        ]
    return []


def _ice(a: Assessment) -> DomainGrade:
    """ICE bands: 10 → 0, 7-9 → 1, 3-6 → 2, 0-2 → 3; ICE 0 per R-ICANS-2 and D8."""
    score = a.ice_total
    if AttributableFinding.ICE in a.attributed_elsewhere:
        return excluded(Exclusion("ice", f"ICE {_or_blank(score)}{_ATTRIBUTED}", "D9"))
    if score is None:
        return not_assessed(3, "ice")
    observed = f"ICE {score}/10" + _items(a)
    if score == 10:
        return recorded(Finding("encephalopathy", observed, 0, "ICE 10: no encephalopathy", "ICE"))
    if score >= 7:
        return recorded(Finding("encephalopathy", observed, 1, "ICE score 7-9", "ICE"))
    if score >= 3:
        return recorded(Finding("encephalopathy", observed, 2, "ICE score 3-6", "ICE"))
    if score > 0:
        return recorded(Finding("encephalopathy", observed, 3, "ICE score 0-2", "ICE"))
    if a.consciousness is Consciousness.UNAROUSABLE:
        if AttributableFinding.CONSCIOUSNESS in a.attributed_elsewhere:
            # ICE could not be performed for a reason the clinician attributes elsewhere
            # (sedation, say): it says nothing about ICANS (R-ICANS-2, R-ICANS-3).
            return excluded(
                Exclusion(
                    "ice",
                    "ICE 0 because the patient is unarousable from a cause attributed elsewhere; "
                    "not counted",
                    "R-ICANS-3",
                )
            )
        return recorded(
            Finding(
                "encephalopathy",
                observed,
                4,
                "ICE 0: unarousable and unable to perform ICE",
                "R-ICANS-2",
            )
        )
    if a.global_aphasia and a.consciousness is not None:
        return recorded(
            Finding(
                "encephalopathy",
                observed,
                3,
                "ICE 0 in a patient awake with global aphasia",
                "R-ICANS-2",
            )
        )
    if a.consciousness is not None:
        return recorded(
            Finding(
                "encephalopathy",
                observed,
                3,
                "ICE 0 in a patient who can be roused (0-2 band)",
                "R-ICANS-2",
            )
        )
    # D8: ICE 0 with consciousness not recorded is grade 3 or 4; consciousness decides.
    return DomainGrade(
        3,
        4,
        Finding("encephalopathy", observed, 3, "ICE score 0-2 (grade 4 if unarousable)", "D8"),
        ("consciousness",),
    )


def _capd(a: Assessment) -> DomainGrade:
    """CAPD bands with the pre-infusion baseline (D7)."""
    score = a.capd
    baseline = a.baseline_capd
    if AttributableFinding.CAPD in a.attributed_elsewhere:
        return excluded(Exclusion("capd", f"CAPD {_or_blank(score)}{_ATTRIBUTED}", "D9"))
    if score is None:
        return not_assessed(3, "capd")
    observed = f"CAPD {score}/32" + (f" (baseline {baseline})" if baseline is not None else "")
    if score == 0:
        domain = recorded(Finding("encephalopathy", observed, 0, "CAPD 0: no encephalopathy", "D7"))
    elif baseline is not None and score <= baseline:
        domain = recorded(
            Finding(
                "encephalopathy",
                observed,
                0,
                "CAPD at or below the pre-infusion baseline: no encephalopathy from CAPD",
                "D7",
            )
        )
    elif score >= CAPD_POSITIVE:
        domain = recorded(
            Finding("encephalopathy", observed, 3, "CAPD ≥9 (positive delirium screen)", "CAPD")
        )
    else:
        domain = recorded(
            Finding(
                "encephalopathy",
                observed,
                1,
                "CAPD 1-8 (grade 1; consciousness decides grade 2)",
                "D7",
            )
        )
    if 1 <= score < CAPD_POSITIVE:
        baseline_note = (
            f" The recorded baseline is {baseline}."
            if baseline is not None
            else " No pre-infusion baseline CAPD is recorded; a non-zero baseline is common "
            "in young or developmentally delayed children."
        )
        domain.warnings.append(
            "D7: CAPD 1-8 sits in both the grade 1 and grade 2 columns of the ASTCT pediatric "
            "table; the level of consciousness decides (awakens spontaneously: 1, to voice: 2). "
            "CAPD below 9 is a negative delirium screen by design." + baseline_note
        )
    return domain


def _consciousness(a: Assessment, tool: NeuroTool | None) -> DomainGrade:
    """Depressed level of consciousness (R-ICANS-3, R-ICANS-6)."""
    level = a.consciousness
    if AttributableFinding.CONSCIOUSNESS in a.attributed_elsewhere:
        shown = f"{level.value.replace('_', ' ')} " if level else ""
        return excluded(
            Exclusion(
                "consciousness",
                f"{shown}{_ATTRIBUTED} (for example sedating medication)",
                "R-ICANS-3",
            )
        )
    if level is None:
        # A screen the patient performed means the patient was arousable (D7, D8).
        performed = bool(a.ice_total) or (tool is NeuroTool.CAPD)
        return not_assessed(3 if performed else 4, "consciousness")
    grade, words, rule = _CONSCIOUSNESS[level]
    return recorded(Finding("consciousness", level.value.replace("_", " "), grade, words, rule))


def _seizure(a: Assessment) -> DomainGrade:
    if AttributableFinding.SEIZURE in a.attributed_elsewhere:
        return excluded(Exclusion("seizure", f"seizure {_ATTRIBUTED}", "D9"))
    if a.seizure is None:
        return not_assessed(4, "seizure")
    grade, words = _SEIZURE[a.seizure]
    return recorded(
        Finding("seizure", a.seizure.value.replace("_", " "), grade, words, "R-ICANS-1")
    )


def _motor(a: Assessment) -> DomainGrade:
    if AttributableFinding.MOTOR in a.attributed_elsewhere:
        return excluded(Exclusion("motor", f"motor weakness {_ATTRIBUTED}", "D9"))
    if a.motor_weakness is None:
        return not_assessed(4, "motor_weakness")
    if a.motor_weakness:
        return recorded(
            Finding(
                "motor",
                "motor weakness",
                4,
                "deep focal motor weakness such as hemiparesis or paraparesis",
                "R-ICANS-1",
            )
        )
    return recorded(
        Finding("motor", "no motor weakness", 0, "no deep focal motor weakness", "R-ICANS-1")
    )


def _raised_icp(a: Assessment) -> DomainGrade:
    """Cerebral edema and the signs of raised intracranial pressure: one ASTCT row."""
    if AttributableFinding.EDEMA in a.attributed_elsewhere:
        return excluded(
            Exclusion("edema", f"cerebral edema and raised-ICP signs {_ATTRIBUTED}", "D9")
        )
    grades: list[tuple[int, str]] = []
    unknown: list[str] = []
    if a.cerebral_edema is None:
        unknown.append("cerebral_edema")
    else:
        grades.append(_EDEMA[a.cerebral_edema])
    for field, words in _ICP_SIGNS:
        value = getattr(a, field)
        if value is None:
            unknown.append(field)
        elif value:
            grades.append((4, words))
    if not grades:
        return not_assessed(4, *unknown)
    worst = max(grade for grade, _ in grades)
    positive = [words for grade, words in grades if grade == worst]
    if worst == 0:
        observed = "no cerebral edema" + ("" if unknown else " and no raised-ICP signs")
        criterion = "no cerebral edema or raised-ICP sign"
    else:
        observed = "; ".join(positive)
        criterion = "; ".join(positive)
    finding = Finding("raised_icp", observed, worst, criterion, "R-ICANS-1")
    if worst == 4 or not unknown:
        return recorded(finding)
    return DomainGrade(worst, 4, finding, tuple(unknown))


def _shared_cause_warnings(a: Assessment, tool: NeuroTool | None) -> list[str]:
    """Point out a finding that may share a cause already attributed elsewhere or excluded."""
    out: list[str] = []
    attributed = a.attributed_elsewhere
    screen_deficit = (tool is NeuroTool.ICE and a.ice_total is not None and a.ice_total < 10) or (
        tool is NeuroTool.CAPD and bool(a.capd)
    )
    screen_excluded = {AttributableFinding.ICE, AttributableFinding.CAPD} & attributed
    if AttributableFinding.CONSCIOUSNESS in attributed and screen_deficit and not screen_excluded:
        out.append(
            "D9: consciousness is attributed to another cause but the "
            f"{tool.value.upper() if tool else ''} deficit still counts; if it has the same "
            f"cause, add exclude={tool.value if tool else 'ice'}."
        )
    edema = a.cerebral_edema in (CerebralEdema.FOCAL, CerebralEdema.DIFFUSE)
    if a.intracranial_hemorrhage and edema and AttributableFinding.EDEMA not in attributed:
        out.append(
            "R-ICANS-5: intracranial hemorrhage is recorded with cerebral edema. Edema around a "
            "hemorrhage is not ICANS; the edema is graded as recorded unless it is the "
            "hemorrhage's own (then add exclude=edema)."
        )
    return out


def _never_graded(a: Assessment) -> tuple[Exclusion, ...]:
    """Recorded and shown, never graded (D11, R-ICANS-4, R-ICANS-5)."""
    out: list[Exclusion] = []
    if a.tremor_or_myoclonus:
        out.append(
            Exclusion(
                "tremor_or_myoclonus",
                "tremor or myoclonus is graded with CTCAE v5.0 and does not affect the ICANS grade",
                "R-ICANS-4",
            )
        )
    if a.intracranial_hemorrhage:
        out.append(
            Exclusion(
                "intracranial_hemorrhage",
                "intracranial hemorrhage, with or "
                "without edema, is not a neurotoxicity feature; graded with CTCAE "
                "v5.0",
                "R-ICANS-5",
            )
        )
    return tuple(out)


def _question(a: Assessment, low: int, high: int, deciding: tuple[str, ...]) -> str:
    if a.ice_total == 0 and a.consciousness is None and (low, high) == (3, 4):
        return (
            "ICANS is grade 3-4 on these data (D8): ICE 0 is grade 4 if the patient is "
            "unarousable. To decide, record the level of consciousness (loc=alert, "
            "spontaneous, voice, touch, unarousable)"
        )
    return question("ICANS", low, high, deciding)


def _because(drivers: tuple[Finding, ...]) -> str:
    return "; ".join(f"{d.criterion} ({d.observed})" for d in drivers)


def _items(a: Assessment) -> str:
    items = a.ice_items
    if items is None:
        return ""
    return (
        f" (orientation {items.orientation}/4, naming {items.naming}/3, commands "
        f"{items.commands}/1, writing {items.writing}/1, attention {items.attention}/1)"
    )


def _or_blank(score: int | None) -> str:
    return f"{score} " if score is not None else ""
