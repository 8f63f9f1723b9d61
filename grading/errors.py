"""Input errors a nurse or clinician can act on: each names the field, the value and what is
accepted.

These are not ``ValueError`` subclasses on purpose: pydantic would wrap a ``ValueError`` raised in
a validator and lose the field name; an ``InputError`` passes through untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One rejected value: which field, what was given, what is wrong and what is accepted."""

    field: str
    value: str
    problem: str
    accepted: str

    def message(self) -> str:
        """The error as one line, e.g. ``temp=102.6: outside 30-45 °C. Accepted: ...``."""
        value = self.value if len(self.value) <= 60 else self.value[:57] + "..."
        shown = f"{self.field}={value}" if value else self.field
        return f"{shown}: {self.problem}. Accepted: {self.accepted}"

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form, for the CLI's error output."""
        return {
            "field": self.field,
            "value": self.value,
            "problem": self.problem,
            "accepted": self.accepted,
            "message": self.message(),
        }


class InputError(Exception):
    """An assessment was rejected; ``errors`` lists every bad field, not only the first."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(error.message() for error in self.errors))


class GrammarError(InputError):
    """Text such as ``temp=39.2 o2=nc:4`` could not be read as an assessment."""
