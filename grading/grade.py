"""Grade one assessment for both toxicities with one engine: the core's front door.

The rules and the assembly of results are pure functions of immutable values, memoized with
bounded ``functools`` caches (a ward's assessments repeat the same findings). ``clear_caches``
empties them, for measuring the core cold.
"""

from __future__ import annotations

from grading import crs, domains, icans
from grading.assessment import Assessment
from grading.crs import grade_crs
from grading.icans import grade_icans
from grading.result import GradingResult
from grading.version import ENGINE_VERSION

_CACHED = (
    crs._assemble,
    crs._fever_rule,
    crs._hypotension_rule,
    crs._hypoxia_rule,
    icans._assemble,
    icans._tool_warnings,
    icans._ice_rule,
    icans._capd_rule,
    icans._consciousness_rule,
    icans._seizure_rule,
    icans._motor_rule,
    icans._raised_icp_rule,
    domains._question,
)


def grade(assessment: Assessment) -> GradingResult:
    """Grade CRS and ICANS from one validated assessment (ASTCT 2019, clinical reference §1-2)."""
    return GradingResult(grade_crs(assessment), grade_icans(assessment), ENGINE_VERSION)


def clear_caches() -> None:
    """Empty every memo of the grading core (results are unchanged; only speed differs)."""
    for cached in _CACHED:
        cached.cache_clear()
