"""Invariants of the grading core and the grammar, checked over generated assessments.

- Worsening any single finding never lowers a grade (neither end of a range).
- Removing a finding never invents a grade: the result is the same grade, or a range or
  'not assessed' that still admits it (D10).
- Missing data never yields a guessed grade: nothing recorded is 'not assessed' for both.
- The grammar raises nothing but GrammarError, whatever the text.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from grading import (
    Assessment,
    FieldError,
    GrammarError,
    InputError,
    Status,
    ToxicityGrade,
    assessment_from_mapping,
    clear_caches,
    grade,
    parse_assessment,
)
from grading.grammar import ACCEPTED_KEYS
from tests.unit.grading.strategies import FINDING_ORDERS, assessments


def bounds(result: ToxicityGrade) -> tuple[int, int | None]:
    """The lowest and highest grade a result allows; 'not assessed' has no upper bound."""
    if result.status is Status.GRADED:
        assert result.grade is not None
        return result.grade, result.grade
    if result.status is Status.UNDETERMINED:
        assert result.range is not None
        return result.range
    return 0, None


def admits(result: ToxicityGrade, value: int) -> bool:
    """Whether a result leaves room for ``value``."""
    low, high = bounds(result)
    return low <= value and (high is None or value <= high)


def with_field(assessment: Assessment, name: str, value: Any) -> Assessment | None:
    data = assessment.model_dump(exclude_none=True)
    if value is None:
        data.pop(name, None)
    else:
        data[name] = value
    try:
        return assessment_from_mapping(data)
    except InputError:
        return None  # a contradiction the model refuses; not a grading question


@given(assessments(), st.sampled_from(sorted(FINDING_ORDERS)), st.data())
def test_worsening_one_finding_never_lowers_a_grade(
    assessment: Assessment, field: str, data: st.DataObject
) -> None:
    order = FINDING_ORDERS[field]
    before_value = data.draw(st.sampled_from(order[:-1]), label="from")
    after_value = data.draw(st.sampled_from(order[order.index(before_value) + 1 :]), label="to")
    before = with_field(assessment, field, before_value)
    after = with_field(assessment, field, after_value)
    assume(before is not None and after is not None)
    assert before is not None
    assert after is not None
    for side in ("crs", "icans"):
        old, new = getattr(grade(before), side), getattr(grade(after), side)
        old_low, old_high = bounds(old)
        new_low, new_high = bounds(new)
        assert new_low >= old_low, (side, field, before_value, after_value, old, new)
        if old_high is not None and new_high is not None:
            assert new_high >= old_high, (side, field, before_value, after_value, old, new)


@given(assessments(), st.sampled_from(sorted(FINDING_ORDERS)))
def test_removing_a_finding_never_invents_a_grade(assessment: Assessment, field: str) -> None:
    assume(getattr(assessment, field) is not None)
    reduced = with_field(assessment, field, None)
    assume(reduced is not None)
    assert reduced is not None
    for side in ("crs", "icans"):
        full, partial = getattr(grade(assessment), side), getattr(grade(reduced), side)
        if partial.status is Status.GRADED:
            assert full.status is Status.GRADED, (side, field, full, partial)
            assert full.grade == partial.grade, (side, field, full, partial)
        if full.status is Status.GRADED:
            assert full.grade is not None
            assert admits(partial, full.grade), (side, field, full, partial)


def test_nothing_recorded_is_not_assessed_for_both() -> None:
    """D10: missing data is 'not assessed', never 0."""
    result = grade(Assessment())
    assert result.crs.status is Status.NOT_ASSESSED
    assert result.crs.grade is None
    assert result.icans.status is Status.NOT_ASSESSED
    assert result.icans.grade is None


@given(assessments())
def test_a_determined_grade_has_drivers_and_no_question(assessment: Assessment) -> None:
    """Every grade shows why (its drivers, with rules); an open range always asks what decides."""
    for side in (grade(assessment).crs, grade(assessment).icans):
        if side.status is Status.GRADED:
            assert side.question is None
            # Grade 0 may rest on an exclusion alone (a fever attributed elsewhere, D9).
            assert side.drivers or (side.grade == 0 and side.excluded), side
            assert all(driver.rule for driver in side.drivers)
        elif side.status is Status.UNDETERMINED:
            assert side.range is not None
            assert side.range[0] < side.range[1]
            assert side.question
            assert "record" in side.question


def grammar_errors(text: str) -> tuple[FieldError, ...] | None:
    """The errors the grammar reports for ``text``, or None when it parses.

    Any exception other than GrammarError propagates and fails the test.
    """
    try:
        parse_assessment(text)
    except GrammarError as exc:
        return exc.errors
    return None


@given(st.text(max_size=300))
def test_grammar_raises_only_its_own_error_on_arbitrary_text(text: str) -> None:
    errors = grammar_errors(text)
    assert errors is None or len(errors) > 0, "a GrammarError always names at least one field"


_VALUE_PIECES = st.sampled_from(
    [
        "",
        "0",
        "1",
        "-1",
        "38",
        "102.6F",
        "39,2",
        "nc:4",
        "hfnc",
        "hfnc:",
        "nc:1e9",
        "4+3+1+0+1",
        "4+4+4+4+4",
        "yes",
        "no",
        "none",
        "brief",
        "alert",
        "crs2,icans1",
        "crs9",
        "14:30",
        "25:99",
        "2026-02-30T10:00",
        "2026-11-23T10:00+01:00",
        '"quoted note"',
        "“curly”",
        '"open',
        "nan",
        "inf",
        "1" * 400,
        "°F",
        "=",
        "::",
        "+",
        ",",
    ]
)


@given(
    st.lists(st.tuples(st.sampled_from([*ACCEPTED_KEYS, "sbp", "x"]), _VALUE_PIECES), max_size=8)
)
def test_grammar_raises_only_its_own_error_on_near_miss_lines(
    pairs: list[tuple[str, str]],
) -> None:
    errors = grammar_errors(" ".join(f"{key}={value}" for key, value in pairs))
    assert errors is None or all(error.field and error.accepted for error in errors)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e3", "NaN"])
def test_non_finite_and_exponent_temperatures_are_refused(value: str) -> None:
    with pytest.raises(GrammarError) as caught:
        parse_assessment(f"temp={value}")
    assert caught.value.errors[0].field == "temp"


@given(assessments())
def test_memoized_and_fresh_grading_agree(assessment: Assessment) -> None:
    """The core's caches only save time: a result equals the one computed from empty caches."""
    warm = grade(assessment)
    clear_caches()
    assert grade(assessment) == warm
