"""The clinical core: ASTCT 2019 CRS and ICANS grading and the assessment text grammar.

Pure code: no I/O, no clock, no Slack, no database. It imports nothing of toxbot's outside this
package (design §1), so every front end grades the same way.

>>> from grading import grade, parse_assessment
>>> result = grade(parse_assessment("temp=39.4 bp=normal o2=nc:4").assessment)
>>> result.crs.grade
2
"""

from grading.assessment import (
    Assessment,
    AttributableFinding,
    CerebralEdema,
    Consciousness,
    IceItems,
    Oxygen,
    OxygenDevice,
    Seizure,
    assessment_from_json,
    assessment_from_mapping,
)
from grading.crs import grade_crs
from grading.errors import FieldError, GrammarError, InputError
from grading.grade import clear_caches, grade
from grading.grammar import ParsedAssessment, StatedGrades, parse_assessment, stated_mismatches
from grading.icans import grade_icans
from grading.result import Exclusion, Finding, GradingResult, NeuroTool, Status, ToxicityGrade
from grading.rules import RULES, Rule
from grading.sources import SOURCES
from grading.version import ENGINE_VERSION

__all__ = [
    "ENGINE_VERSION",
    "RULES",
    "SOURCES",
    "Assessment",
    "AttributableFinding",
    "CerebralEdema",
    "Consciousness",
    "Exclusion",
    "FieldError",
    "Finding",
    "GradingResult",
    "GrammarError",
    "IceItems",
    "InputError",
    "NeuroTool",
    "Oxygen",
    "OxygenDevice",
    "ParsedAssessment",
    "Rule",
    "Seizure",
    "StatedGrades",
    "Status",
    "ToxicityGrade",
    "assessment_from_json",
    "assessment_from_mapping",
    "clear_caches",
    "grade",
    "grade_crs",
    "grade_icans",
    "parse_assessment",
    "stated_mismatches",
]
