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

from functools import cache, lru_cache
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


_NEURO_ATTRIBUTABLE: Final = (
    AttributableFinding.ICE,
    AttributableFinding.CAPD,
    AttributableFinding.CONSCIOUSNESS,
    AttributableFinding.SEIZURE,
    AttributableFinding.MOTOR,
    AttributableFinding.EDEMA,
)


def grade_icans(a: Assessment) -> ToxicityGrade:
    """Grade ICANS from one assessment by ASTCT 2019 [S4][S5] and decisions D6-D11.

    Each domain counts only when recorded and not attributed to another cause; a missing domain
    leaves the grade open rather than counting as normal (D10). With neither the encephalopathy
    screen nor consciousness counted, ICANS is not assessable unless an objective finding grades
    it (D9).
    """
    attributed = a.attributed_elsewhere
    if attributed:
        ice_out, capd_out, consciousness_out, seizure_out, motor_out, edema_out = (
            finding in attributed for finding in _NEURO_ATTRIBUTABLE
        )
    else:
        ice_out = capd_out = consciousness_out = seizure_out = motor_out = edema_out = False
    score = a.ice_total
    tool = NeuroTool.ICE if score is not None else NeuroTool.CAPD if a.capd is not None else None
    if tool is NeuroTool.CAPD:
        screen = _capd_rule(capd_out, a.capd, a.baseline_capd)
    else:
        items = a.ice_items
        screen = _ice_rule(
            ice_out,
            consciousness_out,
            score,
            None
            if items is None
            else (items.orientation, items.naming, items.commands, items.writing, items.attention),
            a.consciousness,
            a.global_aphasia is True,
        )
    consciousness = _consciousness_rule(
        consciousness_out,
        a.consciousness,
        bool(score) or tool is NeuroTool.CAPD,  # a performed screen means arousable (D7, D8)
    )
    seizure = _seizure_rule(seizure_out, a.seizure)
    motor = _motor_rule(motor_out, a.motor_weakness)
    raised_icp = _raised_icp_rule(
        edema_out, a.cerebral_edema, a.papilledema, a.cn6_palsy, a.posturing, a.cushings_triad
    )
    extra_warnings = (
        _tool_warnings(tool, a.age_years, a.developmental_delay is True) if tool is not None else ()
    )
    if a.global_aphasia or attributed or a.intracranial_hemorrhage:
        extra_warnings += _cross_domain_warnings(a, tool)
    never_graded = _never_graded(a) if a.tremor_or_myoclonus or a.intracranial_hemorrhage else ()
    ice_zero_unknown_consciousness = score == 0 and a.consciousness is None
    return _assemble(
        (screen, consciousness, seizure, motor, raised_icp),
        tool,
        extra_warnings,
        never_graded,
        ice_zero_unknown_consciousness,
    )


@lru_cache(maxsize=4096)  # pure in immutable domain results: steady traffic repeats them
def _assemble(
    domains: tuple[DomainGrade, DomainGrade, DomainGrade, DomainGrade, DomainGrade],
    tool: NeuroTool | None,
    extra_warnings: tuple[str, ...],
    never_graded: tuple[Exclusion, ...],
    ice_zero_unknown_consciousness: bool,
) -> ToxicityGrade:
    """Combine the five ICANS domains (screen and consciousness first) into the grade."""
    screen, consciousness = domains[0], domains[1]
    combined = combine(domains)
    exclusions = combined.excluded + never_graded
    warnings = extra_warnings + combined.warnings
    low, high = combined.low, combined.high
    if low == 0 and not (screen.assessed or consciousness.assessed):
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
            warnings=warnings,
            question=question("ICANS", 0, 4, _core_fields(tool) + combined.deciding),
            tool=tool,
        )
    drivers = combined.drivers
    because = "; ".join(driver.phrase for driver in drivers)
    determined = low == high
    if determined:
        summary = f"ICANS grade {low}: {because}"
    else:
        summary = f"ICANS grade {low}-{high}, undetermined" + (f": {because}" if because else "")
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
        warnings=warnings,
        question=None
        if determined
        else _question(ice_zero_unknown_consciousness, low, high, combined.deciding),
        tool=tool,
    )


def _core_fields(tool: NeuroTool | None) -> tuple[str, ...]:
    return ("capd" if tool is NeuroTool.CAPD else "ice", "consciousness")


@lru_cache(maxsize=1024)
def _tool_warnings(
    tool: NeuroTool, age: float | None, developmental_delay: bool
) -> tuple[str, ...]:
    """D6: ICE from 12 years, CAPD under 12, at 12, or with developmental delay."""
    if age is None:
        return (
            f"D6: age not recorded, so the choice of {tool.value.upper()} could not be "
            "checked (ICE from 12 years; CAPD under 12 or with developmental delay).",
        )
    if tool is NeuroTool.ICE and age < ICE_AGE_YEARS:
        return (
            f"D6: ICE used at age {age:g}; CAPD is the tool under 12 years. The ICE result is "
            "graded as given.",
        )
    if tool is NeuroTool.CAPD and age >= ICE_AGE_YEARS + 1 and not developmental_delay:
        return (
            f"D6: CAPD used at age {age:g} without developmental delay; ICE is the tool from "
            "12 years. The CAPD result is graded as given.",
        )
    return ()


_ICE_BANDS: Final = (
    (10, 0, "ICE 10: no encephalopathy"),
    (7, 1, "ICE score 7-9"),
    (3, 2, "ICE score 3-6"),
    (1, 3, "ICE score 0-2"),
)


@lru_cache(maxsize=4096)  # a pure rule over a small discrete domain
def _ice_rule(
    attributed: bool,
    consciousness_attributed: bool,
    score: int | None,
    items: tuple[int, int, int, int, int] | None,
    level: Consciousness | None,
    global_aphasia: bool,
) -> DomainGrade:
    """ICE bands: 10 → 0, 7-9 → 1, 3-6 → 2, 0-2 → 3; ICE 0 per R-ICANS-2 and D8."""
    if attributed:
        return excluded(Exclusion("ice", f"ICE {_or_blank(score)}{_ATTRIBUTED}", "D9"))
    if score is None:
        return not_assessed(3, "ice")
    observed = f"ICE {score}/10" + _items(items)
    for floor, grade, words in _ICE_BANDS:
        if score >= floor:
            return recorded(Finding("encephalopathy", observed, grade, words, "ICE"))
    if level is Consciousness.UNAROUSABLE:
        if consciousness_attributed:
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
    if level is not None:
        words = (
            "ICE 0 in a patient awake with global aphasia"
            if global_aphasia
            else "ICE 0 in a patient who can be roused (0-2 band)"
        )
        return recorded(Finding("encephalopathy", observed, 3, words, "R-ICANS-2"))
    # D8: ICE 0 with consciousness not recorded is grade 3 or 4; consciousness decides.
    return DomainGrade(
        3,
        4,
        Finding("encephalopathy", observed, 3, "ICE score 0-2 (grade 4 if unarousable)", "D8"),
        ("consciousness",),
    )


@lru_cache(maxsize=2048)  # a pure rule: at most 2 x 33 x 34 keys
def _capd_rule(attributed: bool, score: int | None, baseline: int | None) -> DomainGrade:
    """CAPD bands with the pre-infusion baseline (D7)."""
    if attributed:
        return excluded(Exclusion("capd", f"CAPD {_or_blank(score)}{_ATTRIBUTED}", "D9"))
    if score is None:
        return not_assessed(3, "capd")
    observed = f"CAPD {score}/32" + (f" (baseline {baseline})" if baseline is not None else "")
    if score == 0:
        finding = Finding("encephalopathy", observed, 0, "CAPD 0: no encephalopathy", "D7")
    elif baseline is not None and score <= baseline:
        finding = Finding(
            "encephalopathy",
            observed,
            0,
            "CAPD at or below the pre-infusion baseline: no encephalopathy from CAPD",
            "D7",
        )
    elif score >= CAPD_POSITIVE:
        finding = Finding(
            "encephalopathy", observed, 3, "CAPD ≥9 (positive delirium screen)", "CAPD"
        )
    else:
        finding = Finding(
            "encephalopathy", observed, 1, "CAPD 1-8 (grade 1; consciousness decides grade 2)", "D7"
        )
    if not 1 <= score < CAPD_POSITIVE:
        return recorded(finding)
    baseline_note = (
        f" The recorded baseline is {baseline}."
        if baseline is not None
        else " No pre-infusion baseline CAPD is recorded; a non-zero baseline is common "
        "in young or developmentally delayed children."
    )
    return recorded(
        finding,
        "D7: CAPD 1-8 sits in both the grade 1 and grade 2 columns of the ASTCT pediatric "
        "table; the level of consciousness decides (awakens spontaneously: 1, to voice: 2). "
        "CAPD below 9 is a negative delirium screen by design." + baseline_note,
    )


@cache  # a pure rule: at most 2 x 6 x 2 keys
def _consciousness_rule(
    attributed: bool, level: Consciousness | None, screen_performed: bool
) -> DomainGrade:
    """Depressed level of consciousness (R-ICANS-3, R-ICANS-6)."""
    if attributed:
        shown = f"{level.value.replace('_', ' ')} " if level else ""
        return excluded(
            Exclusion(
                "consciousness",
                f"{shown}{_ATTRIBUTED} (for example sedating medication)",
                "R-ICANS-3",
            )
        )
    if level is None:
        return not_assessed(3 if screen_performed else 4, "consciousness")
    grade, words, rule = _CONSCIOUSNESS[level]
    return recorded(Finding("consciousness", level.value.replace("_", " "), grade, words, rule))


@cache  # a pure rule: at most 2 x 4 keys
def _seizure_rule(attributed: bool, seizure: Seizure | None) -> DomainGrade:
    if attributed:
        return excluded(Exclusion("seizure", f"seizure {_ATTRIBUTED}", "D9"))
    if seizure is None:
        return not_assessed(4, "seizure")
    grade, words = _SEIZURE[seizure]
    return recorded(Finding("seizure", seizure.value.replace("_", " "), grade, words, "R-ICANS-1"))


@cache  # a pure rule: at most 2 x 3 keys
def _motor_rule(attributed: bool, weakness: bool | None) -> DomainGrade:
    if attributed:
        return excluded(Exclusion("motor", f"motor weakness {_ATTRIBUTED}", "D9"))
    if weakness is None:
        return not_assessed(4, "motor_weakness")
    if weakness:
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


@cache  # a pure rule: at most 2 x 4 x 3^4 keys
def _raised_icp_rule(
    attributed: bool,
    edema: CerebralEdema | None,
    papilledema: bool | None,
    cn6_palsy: bool | None,
    posturing: bool | None,
    cushings_triad: bool | None,
) -> DomainGrade:
    """Cerebral edema and the signs of raised intracranial pressure: one ASTCT row."""
    if attributed:
        return excluded(
            Exclusion("edema", f"cerebral edema and raised-ICP signs {_ATTRIBUTED}", "D9")
        )
    grades: list[tuple[int, str]] = []
    unknown: list[str] = []
    if edema is None:
        unknown.append("cerebral_edema")
    else:
        grades.append(_EDEMA[edema])
    signs = (papilledema, cn6_palsy, posturing, cushings_triad)
    for (field, words), value in zip(_ICP_SIGNS, signs, strict=True):
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
        observed = criterion = "; ".join(positive)
    finding = Finding("raised_icp", observed, worst, criterion, "R-ICANS-1")
    if worst == 4 or not unknown:
        return recorded(finding)
    return DomainGrade(worst, 4, finding, tuple(unknown))


def _cross_domain_warnings(a: Assessment, tool: NeuroTool | None) -> tuple[str, ...]:
    """Findings that may share a cause, or that contradict each other; the clinician decides."""
    out: list[str] = []
    attributed = a.attributed_elsewhere
    if a.global_aphasia and a.ice_total:
        out.append(
            f"R-ICANS-2: global aphasia is recorded with ICE {a.ice_total}; a globally aphasic "
            "patient usually scores ICE 0. Check both."
        )
    screen_deficit = (tool is NeuroTool.ICE and a.ice_total is not None and a.ice_total < 10) or (
        tool is NeuroTool.CAPD and bool(a.capd)
    )
    screen_excluded = {AttributableFinding.ICE, AttributableFinding.CAPD} & attributed
    if AttributableFinding.CONSCIOUSNESS in attributed and screen_deficit and not screen_excluded:
        name = tool.value if tool else "ice"
        out.append(
            f"D9: consciousness is attributed to another cause but the {name.upper()} deficit "
            f"still counts; if it has the same cause, add exclude={name}."
        )
    edema = a.cerebral_edema in (CerebralEdema.FOCAL, CerebralEdema.DIFFUSE)
    if a.intracranial_hemorrhage and edema and AttributableFinding.EDEMA not in attributed:
        out.append(
            "R-ICANS-5: intracranial hemorrhage is recorded with cerebral edema. Edema around a "
            "hemorrhage is not ICANS; the edema is graded as recorded unless it is the "
            "hemorrhage's own (then add exclude=edema)."
        )
    return tuple(out)


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
                "intracranial hemorrhage, with or without edema, is not a neurotoxicity feature; "
                "graded with CTCAE v5.0",
                "R-ICANS-5",
            )
        )
    return tuple(out)


def _question(
    ice_zero_unknown_consciousness: bool, low: int, high: int, deciding: tuple[str, ...]
) -> str:
    if ice_zero_unknown_consciousness and (low, high) == (3, 4):
        return (
            "ICANS is grade 3-4 on these data (D8): ICE 0 is grade 4 if the patient is "
            "unarousable. To decide, record the level of consciousness (loc=alert, "
            "spontaneous, voice, touch, unarousable)"
        )
    return question("ICANS", low, high, deciding)


def _items(items: tuple[int, int, int, int, int] | None) -> str:
    if items is None:
        return ""
    orientation, naming, commands, writing, attention = items
    return (
        f" (orientation {orientation}/4, naming {naming}/3, commands {commands}/1, "
        f"writing {writing}/1, attention {attention}/1)"
    )


def _or_blank(score: int | None) -> str:
    return f"{score} " if score is not None else ""
