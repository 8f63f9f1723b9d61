"""Shared fixtures for the clinical table tests: a normal neurological exam and the assertions
that a result is a determined grade or an open range (D10)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from grading import Status, ToxicityGrade

# A fully normal neurological examination apart from the encephalopathy screen and
# consciousness: what `signs=none` records.
NORMAL_NEURO_EXAM: MappingProxyType[str, Any] = MappingProxyType(
    {
        "seizure": "none",
        "motor_weakness": False,
        "cerebral_edema": "none",
        "papilledema": False,
        "cn6_palsy": False,
        "posturing": False,
        "cushings_triad": False,
    }
)


def assert_graded(result: ToxicityGrade, expected: int) -> None:
    """The data determine the grade, and it is ``expected``."""
    assert result.status is Status.GRADED, (result.summary, result.range)
    assert result.grade == expected, result.summary
    assert result.range is None
    assert result.question is None


def assert_range(result: ToxicityGrade, low: int, high: int) -> None:
    """The data leave the grade open between ``low`` and ``high`` and say what decides it."""
    assert result.status is Status.UNDETERMINED, (result.summary, result.grade)
    assert result.grade is None
    assert result.range == (low, high), result.summary
    assert result.question, "an open range must say what would decide it (D10)"
