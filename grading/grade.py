"""Grade one assessment for both toxicities with one engine: the core's front door."""

from __future__ import annotations

from grading.assessment import Assessment
from grading.crs import grade_crs
from grading.icans import grade_icans
from grading.result import GradingResult
from grading.version import ENGINE_VERSION


def grade(assessment: Assessment) -> GradingResult:
    """Grade CRS and ICANS from one validated assessment (ASTCT 2019, clinical reference §1-2)."""
    return GradingResult(grade_crs(assessment), grade_icans(assessment), ENGINE_VERSION)
