"""Case codes: the only name a case has in toxbot (design §3).

A code is random (``CT-7K4Q``) and never derived from an MRN, a name or a birth date, so a code
seen in Slack, a log or an export tells nobody who the patient is. A site that keeps its own
pseudonymous labels may use one instead; :func:`validate_site_label` refuses labels that could be
an identifier in disguise.
"""

from __future__ import annotations

import random
import re
import secrets
from datetime import date
from typing import Final

from grading.errors import FieldError, InputError

# Upper-case letters and digits without the look-alikes 0/O, 1/I/L, and without U and V, which
# are easy to confuse when a code is read aloud over a phone or at a handover.
CODE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTWXYZ"
CODE_PREFIX: Final = "CT-"
CODE_LENGTH: Final = 4


def new_case_code(rng: random.Random | None = None) -> str:
    """A fresh random code such as ``CT-7K4Q`` (29^4, about 700,000, possible codes).

    The characters come from :mod:`secrets` unless ``rng`` is given (tests pass a seeded one so
    the codes are repeatable). Nothing about the patient goes in: the caller retries on the rare
    collision with a code already in use.
    """
    choose = secrets.choice if rng is None else rng.choice
    return CODE_PREFIX + "".join(choose(CODE_ALPHABET) for _ in range(CODE_LENGTH))


SITE_LABEL_RULE: Final = (
    "4-16 characters of A-Z, 0-9 and '-' with at least one letter and one digit; no run of 5 or "
    "more digits, nothing that reads as a date, no run of 4 or more letters "
    "(e.g. CT-7K4Q, UCL-0012, B7-XK2)"
)

_SHAPE = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
_DIGIT_RUN = re.compile(r"\d+")
_LETTER_RUN = re.compile(r"[A-Z]{4,}")
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
# A month abbreviation touching a digit, as in 23NOV26 or NOV2026.
_MONTH_DATE = re.compile(rf"(?<=\d)(?:{_MONTHS})|(?:{_MONTHS})(?=\d)")
MIN_LABEL, MAX_LABEL = 4, 16
MAX_DIGIT_RUN = 4


def validate_site_label(label: str) -> str:
    """Check a site's own case label and return it normalised (stripped, upper case).

    The rule, and why each part is there (a label is shown in Slack and written to logs and
    audit records, so it must not identify the patient):

    - 4-16 characters of A-Z, 0-9 and '-', in non-empty segments joined by single '-': short
      enough to read aloud, with nothing that needs escaping.
    - At least one letter and at least one digit: a bare number is how MRNs look, and bare
      letters are how names look.
    - No run of 5 or more digits, with the '-' removed first (so ``123-4567`` counts as 7):
      MRNs and hospital numbers are long runs of digits.
    - Nothing that reads as a date, again with '-' removed: any 8 digits, 6 digits forming a
      calendar date (``231126``; ``23-11-2026`` and ``20261123`` are caught too), or a month
      abbreviation next to a digit (``23NOV26``). A birth or admission date identifies.
    - No run of 4 or more letters: it could be a name (``SMITH-12``, ``JOHN-7K``, ``SMITH12``).
      The rule asked for refuses an all-letter segment of 4 or more; a letter run is the
      stricter form of it, so a name cannot pass by having a digit glued on.

    Raises :class:`~grading.errors.InputError` with one ``FieldError`` for field ``case`` naming
    the problem and the rule. The error carries the label so the person who typed it can see
    what was refused; a refused label may be a real identifier, so callers must NOT log
    ``InputError`` values (log the field name and problem only).
    """
    normalised = label.strip().upper()
    problem = _label_problem(normalised)
    if problem is not None:
        raise InputError([FieldError("case", label, problem, SITE_LABEL_RULE)])
    return normalised


def _label_problem(label: str) -> str | None:
    """What is wrong with a normalised label, or None when it is acceptable.

    The identifier checks (date, record number, name) come before the letter-and-digit check,
    so the reason shown for ``23112026`` is the one that matters.
    """
    if not MIN_LABEL <= len(label) <= MAX_LABEL:
        return f"must be {MIN_LABEL}-{MAX_LABEL} characters long"
    if _SHAPE.fullmatch(label) is None:
        return "only A-Z, 0-9 and single '-' between characters are allowed"
    compact = label.replace("-", "")
    runs = _DIGIT_RUN.findall(compact)
    if any(_reads_as_date(run) for run in runs) or _MONTH_DATE.search(compact):
        return "reads as a date, which could identify the patient"
    if any(len(run) > MAX_DIGIT_RUN for run in runs):
        return "has 5 or more digits in a row, like a medical record number"
    if _LETTER_RUN.search(label):
        return "has 4 or more letters in a row, which could be a name"
    if not any(c.isalpha() for c in compact) or not any(c.isdigit() for c in compact):
        return "needs at least one letter and one digit"
    return None


def _reads_as_date(digits: str) -> bool:
    """Whether a run of digits is, or contains, something read as a date.

    Any 8 digits count (``20261123``, ``23112026``, ``11232026``); a 6-digit window counts when it
    is a real calendar date read as YYMMDD, DDMMYY or MMDDYY.
    """
    if len(digits) >= 8:
        return True
    return any(_is_short_date(digits[i : i + 6]) for i in range(len(digits) - 5))


def _is_short_date(six: str) -> bool:
    a, b, c = int(six[0:2]), int(six[2:4]), int(six[4:6])
    orders = ((a, b, c), (c, b, a), (c, a, b))  # (year, month, day): YYMMDD, DDMMYY, MMDDYY
    return any(_valid_date(2000 + year, month, day) for year, month, day in orders)


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True
