"""The grading rules, as data: each ASTCT footnote (R-CRS-x, R-ICANS-x) and each product decision
(Dx) the core applies, in words, with the sources that back it.

Every finding, exclusion and warning the core emits names one of these ids, so a clinician can
read the rule behind any grade and a test can name the rule it checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Rule:
    """One grading rule: its id, what it says in words, and where it comes from."""

    id: str
    text: str
    sources: tuple[str, ...]

    @property
    def citation(self) -> str:
        """Short citation, e.g. ``"R-CRS-4 [S3][S6]"``."""
        return self.id + " " + "".join(f"[{tag}]" for tag in self.sources)


_D = "TOXBOT-D"

_RULES = (
    # ASTCT CRS (clinical reference §1.3).
    Rule(
        "R-CRS-1",
        "Fever is a temperature ≥38.0 °C (inclusive) not explained by another cause.",
        ("S3", "S44"),
    ),
    Rule(
        "R-CRS-2",
        "After antipyretic or anti-cytokine therapy for CRS, fever is no longer needed "
        "to grade severity; hypotension and hypoxia drive the grade.",
        ("S3", "S44"),
    ),
    Rule("R-CRS-3", "The grade is set by the more severe of hypotension and hypoxia.", ("S3",)),
    Rule(
        "R-CRS-4",
        "Low-flow oxygen is ≤6 L/min or blow-by (grade 2); high-flow is >6 L/min "
        "(grade 3); facemask, non-rebreather and Venturi mask are grade 3 whatever the flow; "
        "positive pressure (CPAP, BiPAP, mechanical ventilation) is grade 4.",
        ("S3", "S6", "S39c"),
    ),
    Rule(
        "R-CRS-5",
        "One vasopressor, with or without vasopressin, is grade 3; multiple "
        "vasopressors (excluding vasopressin) are grade 4.",
        ("S3", "S6"),
    ),
    Rule(
        "R-CRS-6",
        "Organ toxicities may be graded with CTCAE v5.0 but never change the CRS grade.",
        ("S12",),
    ),
    Rule(
        "R-CRS-7",
        "Hypotension is graded by the treatment it needs (fluids only, one "
        "vasopressor, several); ASTCT sets no blood-pressure number.",
        ("S3", "S44", "S25"),
    ),
    Rule(
        "R-CRS-8",
        "Hypoxia counts when supplemental oxygen is needed to correct an oxygenation "
        "deficit, not oxygen given for comfort (interpretive guidance, not ASTCT table text).",
        ("S44",),
    ),
    Rule(
        "R-CRS-9",
        "CRS bears a temporal relationship to the cell therapy and is uncommon more "
        "than 14 days after infusion.",
        ("S44", "S21"),
    ),
    # ASTCT ICANS (clinical reference §2.3-2.5).
    Rule(
        "R-ICANS-1",
        "The ICANS grade is the most severe domain, counting only findings not "
        "attributable to another cause.",
        ("S4", "S5"),
    ),
    Rule(
        "R-ICANS-2",
        "ICE 0 is grade 3 in a patient who is awake with global aphasia, or who can "
        "be roused and is not aphasic; it is grade 4 when the patient is unarousable.",
        ("S4", "S5"),
    ),
    Rule(
        "R-ICANS-3",
        "Depressed consciousness counts only when no other cause (such as sedating "
        "medication) explains it.",
        ("S4", "S5"),
    ),
    Rule(
        "R-ICANS-4",
        "Tremor and myoclonus may be graded with CTCAE v5.0 but do not affect the ICANS grade.",
        ("S4", "S5", "S44"),
    ),
    Rule(
        "R-ICANS-5",
        "Intracranial hemorrhage, with or without associated edema, is not a "
        "neurotoxicity feature and is excluded from ICANS grading.",
        ("S4", "S5"),
    ),
    Rule(
        "R-ICANS-6",
        "'Awakens spontaneously' is itself a grade 1 finding, so a drowsy patient "
        "with ICE 10 is grade 1 (ASTCT table; ASCO words grade 1 differently).",
        ("S4", "S12"),
    ),
    Rule(
        "R-ICANS-7",
        "Grade 5 is death from ICANS with no other principal cause; live grading "
        "never produces it.",
        ("S8",),
    ),
    Rule(
        "ICE",
        "ICE score (10 points: orientation 4, naming 3, commands 1, writing 1, attention "
        "1): 10 no encephalopathy, 7-9 grade 1, 3-6 grade 2, 0-2 grade 3.",
        ("S4", "S7", "S12"),
    ),
    Rule(
        "CAPD",
        "CAPD (8 items, 0-32): ≥9 is a positive delirium screen and grade 3; 1-8 sits in "
        "both grade 1 and grade 2, where the level of consciousness decides.",
        ("S8", "S10", "S11", "S12"),
    ),
    # Product decisions (clinical reference §0).
    Rule(
        "D1",
        "Nasal cannula (ordinary or high-flow device): flow decides, ≤6 L/min grade 2, "
        ">6 L/min grade 3; a high-flow device with no flow given is grade 3 and the flow is asked "
        "for. Facemask, non-rebreather, Venturi: grade 3; CPAP, BiPAP, ventilation: grade 4; "
        "blow-by: grade 2.",
        (_D, "S3"),
    ),
    Rule(
        "D2",
        "ASTCT's absolute 6 L/min cut-off applies to infants too; below 10 kg a note says "
        "ASTCT has no pediatric adjustment.",
        (_D, "S3"),
    ),
    Rule(
        "D3",
        "Vasopressin alone counts as one vasopressor (grade 3). Multiple vasopressors "
        "(grade 4) means two or more non-vasopressin agents.",
        (_D, "S3"),
    ),
    Rule(
        "D4",
        "Afebrile after antipyretic or anti-cytokine therapy with no hypotension or "
        "hypoxia: CRS grade 0, no grade-defining findings after treatment (resolving or "
        "resolved).",
        (_D, "S3"),
    ),
    Rule(
        "D5",
        "Hypotension or hypoxia without fever in a patient never treated for CRS: CRS "
        "grade 0 (fever is required at onset), with a warning to evaluate other causes.",
        (_D, "S3"),
    ),
    Rule(
        "D6",
        "Neuro tool by age: under 12 CAPD, 12 and over ICE; CAPD is accepted at exactly 12 "
        "and at any age with developmental delay. The other tool is accepted with a warning.",
        (_D, "S8", "S12"),
    ),
    Rule(
        "D7",
        "CAPD 0, or at or below the pre-infusion baseline: no encephalopathy from CAPD. "
        "1-8: grade 1 from CAPD, consciousness decides grade 2. ≥9: grade 3. Unable to perform "
        "because unarousable: grade 4.",
        (_D, "S8", "S10"),
    ),
    Rule(
        "D8",
        "ICE 0: unarousable is grade 4; awake with global aphasia is grade 3; with "
        "consciousness not recorded the grade is 3-4 until consciousness is recorded.",
        (_D, "S4"),
    ),
    Rule(
        "D9",
        "A finding the clinician attributes to another cause (sedation, intubation, "
        "another diagnosis) is excluded and said so. With every neuro assessment excluded or "
        "missing, ICANS is not assessable, never 0; objective findings still grade.",
        (_D, "S4"),
    ),
    Rule(
        "D10",
        "Missing data is 'not assessed', never 0. A grade is given only when the recorded "
        "data determine it; otherwise the range the data allow is given with what would decide "
        "it.",
        (_D,),
    ),
    Rule(
        "D11",
        "Tremor, myoclonus and intracranial hemorrhage (ICANS) and organ toxicities (CRS) "
        "are recorded and shown, never graded.",
        (_D, "S4", "S12"),
    ),
    Rule(
        "D13",
        "Prior CRS treatment (antipyretic or anti-cytokine therapy after CRS onset) can be "
        "stated with an assessment or derived from the case's doses; either makes fever "
        "unnecessary.",
        (_D, "S3"),
    ),
)

RULES: MappingProxyType[str, Rule] = MappingProxyType({rule.id: rule for rule in _RULES})
