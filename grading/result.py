"""What the grading core returns: a grade, or the range the data leave open, with its reasons.

Results are named tuples rather than pydantic models or dataclasses: they are built by the core,
never parsed from outside, and grading runs on every message and every reminder, so they must be
immutable and cost next to nothing to build. ``as_dict()`` gives design §4's JSON shape.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from grading.rules import RULES


class Status(StrEnum):
    """Whether the recorded data decide a grade."""

    GRADED = "graded"
    UNDETERMINED = "undetermined"  # the data allow a range; ``question`` says what decides it
    NOT_ASSESSED = "not_assessed"  # nothing gradeable was recorded (D9, D10)


class NeuroTool(StrEnum):
    """The encephalopathy screen used for ICANS (D6)."""

    ICE = "ice"
    CAPD = "capd"


class Finding(NamedTuple):
    """One graded domain: what was observed and which ASTCT row it meets, with the rule."""

    domain: str
    observed: str
    grade: int
    criterion: str
    rule: str

    @property
    def phrase(self) -> str:
        """The finding in words: ``"ICE score 7-9 (ICE 7/10)"``."""
        return f"{self.criterion} ({self.observed})"

    def as_dict(self) -> dict[str, Any]:
        """JSON form, with the rule's citation resolved."""
        return {
            "domain": self.domain,
            "observed": self.observed,
            "grade": self.grade,
            "criterion": self.criterion,
            "rule": self.rule,
            "citation": RULES[self.rule].citation,
        }


class Exclusion(NamedTuple):
    """A recorded finding that does not count towards the grade, and why."""

    finding: str
    reason: str
    rule: str

    def as_dict(self) -> dict[str, str]:
        """JSON form, with the rule's citation resolved."""
        return {
            "finding": self.finding,
            "reason": self.reason,
            "rule": self.rule,
            "citation": RULES[self.rule].citation,
        }


class ToxicityGrade(NamedTuple):
    """The grade of one toxicity (CRS or ICANS) from one assessment.

    ``grade`` is set only when the data determine it (D10); otherwise ``range`` holds the lowest
    and highest grade the data allow and ``question`` names what would decide it. ``drivers`` are
    the findings that set the grade (or its lower bound); ``findings`` are all graded domains.
    ``tool`` is the ICANS encephalopathy screen and ``None`` for CRS.
    """

    toxicity: str
    status: Status
    grade: int | None
    range: tuple[int, int] | None
    summary: str
    drivers: tuple[Finding, ...]
    findings: tuple[Finding, ...]
    missing: tuple[str, ...]
    excluded: tuple[Exclusion, ...]
    warnings: tuple[str, ...]
    question: str | None
    tool: NeuroTool | None = None

    def as_dict(self) -> dict[str, Any]:
        """Design §4's JSON shape for one side of the result."""
        out: dict[str, Any] = {
            "grade": self.grade,
            "range": list(self.range) if self.range is not None else None,
            "status": self.status.value,
            "summary": self.summary,
            "drivers": [finding.as_dict() for finding in self.drivers],
            "findings": [finding.as_dict() for finding in self.findings],
            "missing": list(self.missing),
            "excluded": [exclusion.as_dict() for exclusion in self.excluded],
            "warnings": list(self.warnings),
            "question": self.question,
        }
        if self.toxicity == "icans":
            out["tool"] = self.tool.value if self.tool is not None else None
        return out


class GradingResult(NamedTuple):
    """CRS and ICANS graded from one assessment by one engine version."""

    crs: ToxicityGrade
    icans: ToxicityGrade
    engine: str

    def as_dict(self) -> dict[str, Any]:
        """Design §4's output: ``{"crs": {...}, "icans": {...}, "engine": "<version>"}``."""
        return {"crs": self.crs.as_dict(), "icans": self.icans.as_dict(), "engine": self.engine}
