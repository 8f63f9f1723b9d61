"""Case codes and site labels (design §3): random codes, and labels that cannot identify a patient.

Tables first: each label row says whether it is accepted and, if not, the reason the user is
shown, so a rule that starts to let an MRN, a date or a name through fails here by name.
"""

from __future__ import annotations

import random
import re

import pytest

from bot.services.codes import CODE_ALPHABET, SITE_LABEL_RULE, new_case_code, validate_site_label
from grading.errors import InputError

CODE_PATTERN = re.compile(rf"CT-[{CODE_ALPHABET}]{{4}}")
AMBIGUOUS = set("01OILUV")

# ---------------------------------------------------------------------------------------------
# Generated codes


def test_alphabet_is_unambiguous_uppercase_and_digits() -> None:
    assert set(CODE_ALPHABET).isdisjoint(AMBIGUOUS)
    assert len(set(CODE_ALPHABET)) == len(CODE_ALPHABET) == 29
    assert all(c.isdigit() or (c.isalpha() and c.isupper()) for c in CODE_ALPHABET)


@pytest.mark.parametrize(
    "rng", [None, random.Random(7)], ids=["secrets", "seeded"]
)  # both sources give the same shape
def test_generated_code_matches_pattern(rng: random.Random | None) -> None:
    for _ in range(50):
        assert CODE_PATTERN.fullmatch(new_case_code(rng))


def test_two_thousand_codes_have_no_ambiguous_characters() -> None:
    codes = [new_case_code() for _ in range(2000)]
    used = set("".join(code.removeprefix("CT-") for code in codes))
    assert used.isdisjoint(AMBIGUOUS)
    assert used <= set(CODE_ALPHABET)
    assert len(set(codes)) > 1900  # random, not a counter (29^4 possible codes)


def test_seeded_rng_is_deterministic() -> None:
    one, two = random.Random(2026), random.Random(2026)
    sequence = [new_case_code(one) for _ in range(20)]
    assert sequence == [new_case_code(two) for _ in range(20)]
    assert len(set(sequence)) > 1  # the rng is drawn from, not reseeded
    other = random.Random(2027)
    assert sequence != [new_case_code(other) for _ in range(20)]


# ---------------------------------------------------------------------------------------------
# Site labels

ACCEPTED = [
    ("CT-7K4Q", "CT-7K4Q", "a generated-style code"),
    ("UCL-0012", "UCL-0012", "site prefix and a 4-digit serial"),
    ("B7-XK2", "B7-XK2", "short mixed"),
    ("  ucl-0012 ", "UCL-0012", "stripped and upper-cased"),
    ("A1B2", "A1B2", "shortest: 4 characters"),
    ("ABC1-DEF2-GH3-K4", "ABC1-DEF2-GH3-K4", "longest: 16 characters"),
    ("CAR-2026", "CAR-2026", "a 4-digit run such as a year is not a date on its own"),
    ("ICU-12-34", "ICU-12-34", "4 digits once the '-' are removed"),
]


@pytest.mark.parametrize(
    ("label", "normalised"), [row[:2] for row in ACCEPTED], ids=[row[2] for row in ACCEPTED]
)
def test_label_accepted(label: str, normalised: str) -> None:
    assert validate_site_label(label) == normalised


REFUSED = [
    # (label, words in the problem, id)
    ("SMITH-12", "could be a name", "name segment"),
    ("JOHN-7K", "could be a name", "first name segment"),
    ("SMITH12", "could be a name", "name with digits glued on"),
    ("7K-ANNA", "could be a name", "name in a later segment"),
    ("12345678", "reads as a date", "8 digits"),
    ("X20261123", "reads as a date", "YYYYMMDD inside"),
    ("X23-11-2026", "reads as a date", "DD-MM-YYYY inside"),
    ("P231126", "reads as a date", "DDMMYY"),
    ("P-23-11-26", "reads as a date", "DD-MM-YY split by '-'"),
    ("P11-23-26", "reads as a date", "MM-DD-YY"),
    ("D23NOV26", "reads as a date", "day, month name, year"),
    ("NOV2026-X", "reads as a date", "month name and year"),
    ("MRN12345", "medical record number", "5-digit run"),
    ("K-99-999", "medical record number", "5 digits split by '-'"),
    ("A999999", "medical record number", "6 digits that are no date"),
    ("1234", "one letter and one digit", "digits only"),
    ("ABC-DEF", "one letter and one digit", "letters only"),
    ("A1B", "4-16 characters", "too short"),
    ("ABC1-DEF2-GHJ3-K4M", "4-16 characters", "too long"),
    ("", "4-16 characters", "empty"),
    ("CT 7K4Q", "only A-Z, 0-9", "space inside"),
    ("CT_7K4Q", "only A-Z, 0-9", "underscore"),
    ("CT--7K4Q", "only A-Z, 0-9", "double hyphen"),
    ("-CT7K", "only A-Z, 0-9", "leading hyphen"),
    ("CT-7K4É", "only A-Z, 0-9", "non-ASCII letter"),
]


@pytest.mark.parametrize(
    ("label", "reason"), [row[:2] for row in REFUSED], ids=[row[2] for row in REFUSED]
)
def test_label_refused_with_reason(label: str, reason: str) -> None:
    with pytest.raises(InputError) as raised:
        validate_site_label(label)
    (error,) = raised.value.errors
    assert error.field == "case"
    assert error.value == label  # shown to the person who typed it
    assert reason in error.problem
    assert error.accepted == SITE_LABEL_RULE
