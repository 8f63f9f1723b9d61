"""The assessment text grammar (design §5), through ``grading.parse_assessment``.

Tables first: each row is one line a nurse might type and what it must set, echo or refuse. An
error must name the field as typed, the offending value, and say what is accepted, so that the
clinician can fix the line without reading a manual.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest

from grading import (
    Assessment,
    AttributableFinding,
    CerebralEdema,
    Consciousness,
    FieldError,
    GradingResult,
    GrammarError,
    IceItems,
    Oxygen,
    OxygenDevice,
    ParsedAssessment,
    Seizure,
    StatedGrades,
    Status,
    ToxicityGrade,
    grade,
    parse_assessment,
    stated_mismatches,
)
from grading.grammar import ACCEPTED_KEYS

# ---------------------------------------------------------------------------------------------
# Helpers


def _parse(text: str) -> ParsedAssessment:
    return parse_assessment(text)


def _errors(text: str) -> tuple[FieldError, ...]:
    """The errors a line is refused with; fails the test if the line is accepted."""
    with pytest.raises(GrammarError) as caught:
        parse_assessment(text)
    return caught.value.errors


def _only_error(text: str) -> FieldError:
    errors = _errors(text)
    assert len(errors) == 1, f"expected one error for {text!r}, got {errors}"
    return errors[0]


def _set_fields(assessment: Assessment) -> dict[str, Any]:
    """Only the fields the line set: an absent field means not assessed (D10)."""
    return {name: getattr(assessment, name) for name in assessment.model_fields_set}


def _o2(device: OxygenDevice, flow: float | None = None) -> Oxygen:
    return Oxygen(device=device, flow_l_min=flow)


# ---------------------------------------------------------------------------------------------
# Every key and what it sets on the Assessment

NC = OxygenDevice.NASAL_CANNULA
HFNC = OxygenDevice.HIGH_FLOW_NASAL_CANNULA
SIGNS_NONE: dict[str, Any] = {
    "seizure": Seizure.NONE,
    "motor_weakness": False,
    "cerebral_edema": CerebralEdema.NONE,
    "papilledema": False,
    "cn6_palsy": False,
    "posturing": False,
    "cushings_triad": False,
}

FIELD_ROWS = [
    # temp: °C with or without a unit, °F converted to °C.
    pytest.param("temp=39.2", {"temperature_c": 39.2}, id="temp-celsius-no-unit"),
    pytest.param("temp=38.4C", {"temperature_c": 38.4}, id="temp-celsius-C"),
    pytest.param("temp=39.2°C", {"temperature_c": 39.2}, id="temp-celsius-degree-sign"),
    pytest.param("temp=30", {"temperature_c": 30.0}, id="temp-lowest-accepted-30C"),
    pytest.param("temp=45", {"temperature_c": 45.0}, id="temp-highest-accepted-45C"),
    pytest.param("temp=102.6F", {"temperature_c": 39.22}, id="temp-fahrenheit-102.6F"),
    pytest.param("temp=100.4°f", {"temperature_c": 38.0}, id="temp-fahrenheit-fever-threshold"),
    pytest.param("temp=98.6F", {"temperature_c": 37.0}, id="temp-fahrenheit-98.6F"),
    pytest.param("temp=86F", {"temperature_c": 30.0}, id="temp-fahrenheit-lowest-86F"),
    pytest.param("temp=113F", {"temperature_c": 45.0}, id="temp-fahrenheit-highest-113F"),
    # Blood pressure by the support it needs.
    pytest.param(
        "bp=low",
        {"hypotension": True, "vasopressors": 0, "vasopressin": False},
        id="bp-low-is-hypotension-without-pressors",
    ),
    pytest.param("bp=normal", {"hypotension": False}, id="bp-normal"),
    pytest.param("pressors=0", {"vasopressors": 0}, id="pressors-0"),
    pytest.param("pressors=2", {"vasopressors": 2}, id="pressors-2"),
    pytest.param(
        "bp=low pressors=1",
        {"hypotension": True, "vasopressors": 1, "vasopressin": False},
        id="bp-low+pressors",
    ),
    pytest.param(
        "bp=low vasopressin=yes",
        {"hypotension": True, "vasopressors": 0, "vasopressin": True},
        id="bp-low+vasopressin",
    ),
    pytest.param("vasopressin=yes", {"vasopressin": True}, id="vasopressin-yes"),
    pytest.param("vasopressin=no", {"vasopressin": False}, id="vasopressin-no"),
    # Oxygen: every device, with a flow where the device takes one.
    pytest.param("o2=ra", {"oxygen": _o2(OxygenDevice.ROOM_AIR)}, id="o2-ra"),
    pytest.param("o2=nc", {"oxygen": _o2(NC)}, id="o2-nc-no-flow"),
    pytest.param("o2=nc:4", {"oxygen": _o2(NC, 4.0)}, id="o2-nc-4"),
    pytest.param("o2=nc:4L", {"oxygen": _o2(NC, 4.0)}, id="o2-nc-4L"),
    pytest.param("o2=nc:2.5lpm", {"oxygen": _o2(NC, 2.5)}, id="o2-nc-2.5lpm"),
    pytest.param("o2=NC:6", {"oxygen": _o2(NC, 6.0)}, id="o2-device-case-insensitive"),
    pytest.param("o2=hfnc", {"oxygen": _o2(HFNC)}, id="o2-hfnc-no-flow"),
    pytest.param("o2=hfnc:40", {"oxygen": _o2(HFNC, 40.0)}, id="o2-hfnc-40"),
    pytest.param("o2=hfnc:80", {"oxygen": _o2(HFNC, 80.0)}, id="o2-hfnc-80-highest"),
    pytest.param("o2=blowby", {"oxygen": _o2(OxygenDevice.BLOW_BY)}, id="o2-blowby"),
    pytest.param("o2=blowby:2", {"oxygen": _o2(OxygenDevice.BLOW_BY, 2.0)}, id="o2-blowby-2"),
    pytest.param("o2=mask", {"oxygen": _o2(OxygenDevice.FACE_MASK)}, id="o2-mask"),
    pytest.param("o2=mask:10", {"oxygen": _o2(OxygenDevice.FACE_MASK, 10.0)}, id="o2-mask-10"),
    pytest.param("o2=nrb", {"oxygen": _o2(OxygenDevice.NONREBREATHER)}, id="o2-nrb"),
    pytest.param("o2=nrb:15", {"oxygen": _o2(OxygenDevice.NONREBREATHER, 15.0)}, id="o2-nrb-15"),
    pytest.param("o2=venturi", {"oxygen": _o2(OxygenDevice.VENTURI)}, id="o2-venturi"),
    pytest.param("o2=venturi:8", {"oxygen": _o2(OxygenDevice.VENTURI, 8.0)}, id="o2-venturi-8"),
    pytest.param("o2=cpap", {"oxygen": _o2(OxygenDevice.CPAP)}, id="o2-cpap"),
    pytest.param("o2=bipap", {"oxygen": _o2(OxygenDevice.BIPAP)}, id="o2-bipap"),
    pytest.param("o2=vent", {"oxygen": _o2(OxygenDevice.MECHANICAL_VENTILATION)}, id="o2-vent"),
    # ICE as a total or item by item; CAPD.
    pytest.param("ice=7", {"ice": 7}, id="ice-total-7"),
    pytest.param("ice=0", {"ice": 0}, id="ice-total-0"),
    pytest.param("ice=10", {"ice": 10}, id="ice-total-10"),
    pytest.param(
        "ice=4+3+1+0+1",
        {"ice_items": IceItems(orientation=4, naming=3, commands=1, writing=0, attention=1)},
        id="ice-items",
    ),
    pytest.param("capd=12", {"capd": 12}, id="capd-12"),
    pytest.param("capd=32", {"capd": 32}, id="capd-32-highest"),
    pytest.param("baseline_capd=4", {"baseline_capd": 4}, id="baseline-capd"),
    # Level of consciousness.
    pytest.param("loc=alert", {"consciousness": Consciousness.ALERT}, id="loc-alert"),
    pytest.param(
        "loc=spontaneous",
        {"consciousness": Consciousness.AWAKENS_SPONTANEOUSLY},
        id="loc-spontaneous",
    ),
    pytest.param("loc=voice", {"consciousness": Consciousness.AWAKENS_TO_VOICE}, id="loc-voice"),
    pytest.param("loc=touch", {"consciousness": Consciousness.AWAKENS_TO_TACTILE}, id="loc-touch"),
    pytest.param(
        "loc=tactile", {"consciousness": Consciousness.AWAKENS_TO_TACTILE}, id="loc-tactile-alias"
    ),
    pytest.param(
        "loc=unarousable", {"consciousness": Consciousness.UNAROUSABLE}, id="loc-unarousable"
    ),
    # Neurological findings.
    pytest.param("aphasia=yes", {"global_aphasia": True}, id="aphasia-yes"),
    pytest.param("aphasia=no", {"global_aphasia": False}, id="aphasia-no"),
    pytest.param("aphasia=Y", {"global_aphasia": True}, id="yes-no-accepts-Y"),
    pytest.param("aphasia=TRUE", {"global_aphasia": True}, id="yes-no-accepts-TRUE"),
    pytest.param("seizure=none", {"seizure": Seizure.NONE}, id="seizure-none"),
    pytest.param("seizure=brief", {"seizure": Seizure.RAPID_RESOLUTION}, id="seizure-brief"),
    pytest.param(
        "seizure=prolonged", {"seizure": Seizure.PROLONGED_OR_REPETITIVE}, id="seizure-prolonged"
    ),
    pytest.param("motor=weakness", {"motor_weakness": True}, id="motor-weakness"),
    pytest.param("motor=none", {"motor_weakness": False}, id="motor-none"),
    pytest.param("edema=none", {"cerebral_edema": CerebralEdema.NONE}, id="edema-none"),
    pytest.param("edema=focal", {"cerebral_edema": CerebralEdema.FOCAL}, id="edema-focal"),
    pytest.param("edema=diffuse", {"cerebral_edema": CerebralEdema.DIFFUSE}, id="edema-diffuse"),
    pytest.param("papilledema=yes", {"papilledema": True}, id="papilledema"),
    pytest.param("cn6=yes", {"cn6_palsy": True}, id="cn6"),
    pytest.param("posturing=yes", {"posturing": True}, id="posturing"),
    pytest.param("cushing=yes", {"cushings_triad": True}, id="cushing"),
    pytest.param("signs=none", SIGNS_NONE, id="signs-none-sets-all-seven-negatives"),
    pytest.param("tremor=yes", {"tremor_or_myoclonus": True}, id="tremor"),
    pytest.param("ich=yes", {"intracranial_hemorrhage": True}, id="ich"),
    # Treatment, attribution, patient facts.
    pytest.param("treated=yes", {"prior_crs_treatment": True}, id="treated-yes"),
    pytest.param("treated=no", {"prior_crs_treatment": False}, id="treated-no"),
    pytest.param(
        "exclude=hypotension,consciousness",
        {
            "attributed_elsewhere": frozenset(
                {AttributableFinding.HYPOTENSION, AttributableFinding.CONSCIOUSNESS}
            )
        },
        id="exclude-comma-list",
    ),
    pytest.param(
        "exclude=loc",
        {"attributed_elsewhere": frozenset({AttributableFinding.CONSCIOUSNESS})},
        id="exclude-loc-alias",
    ),
    pytest.param(
        "exclude=fever,LOC,motor_weakness",
        {
            "attributed_elsewhere": frozenset(
                {
                    AttributableFinding.FEVER,
                    AttributableFinding.CONSCIOUSNESS,
                    AttributableFinding.MOTOR,
                }
            )
        },
        id="exclude-aliases-and-case",
    ),
    pytest.param("age=10", {"age_years": 10.0}, id="age"),
    pytest.param("age=0.5", {"age_years": 0.5}, id="age-infant-decimal"),
    pytest.param("weight=70", {"weight_kg": 70.0}, id="weight-no-unit-kg"),
    pytest.param("weight=70kg", {"weight_kg": 70.0}, id="weight-kg"),
    pytest.param("weight=154lb", {"weight_kg": 69.9}, id="weight-lb-154"),
    pytest.param("weight=220lbs", {"weight_kg": 99.8}, id="weight-lbs-220"),
    pytest.param("dd=yes", {"developmental_delay": True}, id="dd"),
    pytest.param("day=3", {"days_since_infusion": 3.0}, id="day"),
    pytest.param("day=3.5", {"days_since_infusion": 3.5}, id="day-decimal"),
    # The line as a whole.
    pytest.param(
        "Temp=39 O2=NC:4 LOC=Alert",
        {"temperature_c": 39.0, "oxygen": _o2(NC, 4.0), "consciousness": Consciousness.ALERT},
        id="keys-and-words-case-insensitive",
    ),
    pytest.param(
        "  temp=39\to2=ra   ice=7 ",
        {"temperature_c": 39.0, "oxygen": _o2(OxygenDevice.ROOM_AIR), "ice": 7},
        id="extra-whitespace-and-tabs",
    ),
    pytest.param("", {}, id="empty-line-assesses-nothing"),
]


@pytest.mark.parametrize(("text", "expected"), FIELD_ROWS)
def test_field_sets_exactly_these_assessment_fields(text: str, expected: dict[str, Any]) -> None:
    assert _set_fields(_parse(text).assessment) == expected


def test_ice_items_give_the_ice_total() -> None:
    assessment = _parse("ice=4+3+1+0+1").assessment
    assert assessment.ice is None
    assert assessment.ice_total == 9


def test_nothing_is_assessed_that_was_not_given() -> None:
    """Absent fields stay absent (D10): temp= alone says nothing of oxygen or consciousness."""
    assessment = _parse("temp=39").assessment
    assert assessment.oxygen is None
    assert assessment.hypotension is None
    assert assessment.consciousness is None
    assert assessment.ice_total is None


# ---------------------------------------------------------------------------------------------
# stated=, at=, note=


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("stated=crs2,icans1", StatedGrades(crs=2, icans=1), id="crs-and-icans"),
        pytest.param("stated=icans1,crs2", StatedGrades(crs=2, icans=1), id="either-order"),
        pytest.param("stated=crs2", StatedGrades(crs=2, icans=None), id="crs-only"),
        pytest.param("stated=icans0", StatedGrades(crs=None, icans=0), id="icans-0"),
        pytest.param("stated=CRS4", StatedGrades(crs=4, icans=None), id="case-insensitive"),
    ],
)
def test_stated_grades(text: str, expected: StatedGrades) -> None:
    parsed = _parse(text)
    assert parsed.stated == expected
    assert _set_fields(parsed.assessment) == {}


PLUS_ONE = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("at=14:30", time(14, 30), id="hh-mm"),
        pytest.param("at=9:05", time(9, 5), id="h-mm"),
        pytest.param("at=00:00", time(0, 0), id="midnight"),
        pytest.param("at=23:59", time(23, 59), id="last-minute"),
        pytest.param("at=2026-11-23T14:30", datetime(2026, 11, 23, 14, 30), id="iso-naive-local"),
        pytest.param(
            "at=2026-11-23T14:30:15", datetime(2026, 11, 23, 14, 30, 15), id="iso-with-seconds"
        ),
        pytest.param(
            "at=2026-11-23T14:30+01:00",
            datetime(2026, 11, 23, 14, 30, tzinfo=PLUS_ONE),
            id="iso-with-offset",
        ),
        pytest.param(
            "at=2026-11-23T14:30Z",
            datetime(2026, 11, 23, 14, 30, tzinfo=UTC),
            id="iso-utc-Z",
        ),
    ],
)
def test_at(text: str, expected: datetime | time) -> None:
    at = _parse(text).at
    assert at == expected
    assert type(at) is type(expected)
    if isinstance(expected, datetime):
        # A naive time stays naive (local, placed by the caller); an offset is kept.
        assert isinstance(at, datetime)
        assert at.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("text", "note"),
    [
        pytest.param(
            'note="fever overnight, paracetamol given"',
            "fever overnight, paracetamol given",
            id="straight-quotes",
        ),
        pytest.param("note=“febrile since 02:00”", "febrile since 02:00", id="slack-curly-quotes"),
        pytest.param(
            'note="patient said “fine” at 06:00"',
            "patient said “fine” at 06:00",
            id="curly-word-inside-straight-quotes",
        ),
        pytest.param(
            'note=“wife said "confused" at night”',
            'wife said "confused" at night',
            id="straight-word-inside-curly-quotes",
        ),
        pytest.param(
            "note=‘patient’s wife called’",
            "patient’s wife called",
            id="curly-single-quotes-with-apostrophe",
        ),
        pytest.param("note='single quoted'", "single quoted", id="straight-single-quotes"),
        pytest.param("note=„German quotes“", "German quotes", id="low-high-quotes"),
        pytest.param("note=drowsy", "drowsy", id="one-word-unquoted"),
        pytest.param('note=""', "", id="empty-quoted"),
    ],
)
def test_note(text: str, note: str) -> None:
    parsed = _parse(text)
    assert parsed.note == note
    assert _set_fields(parsed.assessment) == {}


def test_note_text_is_not_read_as_fields() -> None:
    parsed = _parse('note="temp=41 sbp=80" temp=38')
    assert parsed.note == "temp=41 sbp=80"
    assert _set_fields(parsed.assessment) == {"temperature_c": 38.0}


def test_fields_after_a_curly_quoted_note_are_read() -> None:
    parsed = _parse("temp=39 note=“rigors at 03:00” ice=8")
    assert parsed.note == "rigors at 03:00"
    assert _set_fields(parsed.assessment) == {"temperature_c": 39.0, "ice": 8}


def test_a_curly_quoted_word_inside_a_curly_quoted_note() -> None:
    parsed = _parse("temp=39 note=“rigors, “shaking” at 03:00” ice=8")
    assert parsed.note == "rigors, “shaking” at 03:00"
    assert _set_fields(parsed.assessment) == {"temperature_c": 39.0, "ice": 8}


def test_a_note_of_exactly_1000_characters_is_accepted() -> None:
    assert _parse(f'note="{"x" * 1000}"').note == "x" * 1000


def test_without_stated_at_or_note_they_are_none() -> None:
    parsed = _parse("temp=39")
    assert (parsed.stated, parsed.at, parsed.note) == (None, None, None)


# ---------------------------------------------------------------------------------------------
# Interpretations: every value read is echoed, with units made explicit


@pytest.mark.parametrize(
    ("text", "must_say"),
    [
        pytest.param("temp=102.6F", ["39.22 °C", "102.6 °F"], id="temp-F-shows-C-and-F"),
        pytest.param("temp=39.2", ["39.2 °C", "no unit given"], id="temp-no-unit-says-read-as-C"),
        pytest.param("temp=39.2C", ["39.2 °C"], id="temp-C"),
        pytest.param("bp=low", ["hypotension"], id="bp-low"),
        pytest.param("bp=normal", ["no hypotension"], id="bp-normal"),
        pytest.param("pressors=1", ["1 vasopressor", "not counting vasopressin"], id="pressors"),
        pytest.param("o2=nc:4L", ["nasal cannula", "4 L/min"], id="o2-with-flow"),
        pytest.param("o2=nc", ["nasal cannula", "flow not given"], id="o2-cannula-no-flow"),
        pytest.param("o2=vent", ["mechanical ventilation"], id="o2-vent"),
        pytest.param("ice=7", ["ICE 7/10"], id="ice-total"),
        pytest.param(
            "ice=4+3+1+0+1",
            ["ICE 9/10", "orientation 4/4", "naming 3/3", "writing 0/1"],
            id="ice-items-with-total",
        ),
        pytest.param("capd=12", ["CAPD 12/32"], id="capd"),
        pytest.param("loc=touch", ["awakens to tactile"], id="loc-touch"),
        pytest.param("seizure=brief", ["rapid resolution"], id="seizure-brief"),
        pytest.param(
            "signs=none",
            [
                "no seizure",
                "no motor weakness",
                "no cerebral edema",
                "no papilledema",
                "no CN VI palsy",
                "no posturing",
                "no Cushing's triad",
            ],
            id="signs-none-lists-all-seven",
        ),
        pytest.param("tremor=yes", ["not graded"], id="tremor-not-graded"),
        pytest.param("exclude=loc", ["consciousness"], id="exclude-alias-resolved"),
        pytest.param("weight=154lb", ["69.9 kg", "154 lb"], id="weight-lb-shows-kg-and-lb"),
        pytest.param("weight=70", ["70 kg", "no unit given"], id="weight-no-unit"),
        pytest.param("at=14:30", ["14:30", "local time"], id="at-local"),
        pytest.param("at=2026-11-23T14:30+01:00", ["2026-11-23T14:30:00+01:00"], id="at-offset"),
    ],
)
def test_interpretation_says(text: str, must_say: list[str]) -> None:
    interpretations = _parse(text).interpretations
    assert len(interpretations) == 1
    for words in must_say:
        assert words in interpretations[0]


def test_an_offset_time_is_not_called_local() -> None:
    (said,) = _parse("at=2026-11-23T14:30+01:00").interpretations
    assert "local" not in said


# One sample per grammar key, for the echo tests. Kept in step with the grammar by the test below.
SAMPLE_VALUES: dict[str, str] = {
    "temp": "102.6F",
    "bp": "low",
    "pressors": "1",
    "vasopressin": "yes",
    "o2": "nc:4",
    "ice": "4+3+1+0+1",
    "capd": "9",
    "baseline_capd": "4",
    "loc": "voice",
    "aphasia": "yes",
    "seizure": "brief",
    "motor": "weakness",
    "edema": "focal",
    "papilledema": "yes",
    "cn6": "yes",
    "posturing": "yes",
    "cushing": "yes",
    "signs": "none",
    "tremor": "yes",
    "ich": "no",
    "treated": "yes",
    "exclude": "hypotension,loc",
    "age": "8",
    "weight": "70kg",
    "dd": "no",
    "day": "5",
    "stated": "crs2,icans1",
    "at": "14:30",
    "note": '"secret clinical text"',
}


def test_every_grammar_key_has_a_sample() -> None:
    assert set(SAMPLE_VALUES) == set(ACCEPTED_KEYS)


@pytest.mark.parametrize("key", list(SAMPLE_VALUES))
def test_each_key_is_echoed_once(key: str) -> None:
    interpretations = _parse(f"{key}={SAMPLE_VALUES[key]}").interpretations
    assert len(interpretations) == 1
    assert interpretations[0].startswith(key)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "temp=102.6F treated=yes bp=low pressors=1 vasopressin=yes o2=hfnc:30 age=45 "
            "weight=154lb dd=no day=4 exclude=fever at=08:15 note=“febrile overnight”",
            id="crs-line",
        ),
        pytest.param(
            "ice=4+3+1+0+1 loc=alert aphasia=no seizure=brief motor=none edema=none "
            "papilledema=no cn6=no posturing=no cushing=no tremor=yes ich=no",
            id="icans-line-ice",
        ),
        pytest.param(
            "capd=10 baseline_capd=4 loc=voice signs=none age=6 exclude=capd", id="icans-line-capd"
        ),
    ],
)
def test_every_field_of_a_line_is_echoed_in_order(text: str) -> None:
    keys = [token.split("=", 1)[0] for token in text.split() if "=" in token]
    interpretations = _parse(text).interpretations
    assert len(interpretations) == len(keys)
    for key, said in zip(keys, interpretations, strict=True):
        assert said.startswith(key)


def test_the_note_text_is_not_echoed_only_its_length() -> None:
    note = "patient anxious, wife at bedside"
    interpretations = _parse(f'temp=38.5 note="{note}"').interpretations
    assert not any(note in said or "anxious" in said for said in interpretations)
    assert any(f"{len(note)} characters" in said for said in interpretations)


# ---------------------------------------------------------------------------------------------
# Errors: each names the field as typed, the value, and what is accepted

KEY_LIST = "temp, bp, pressors"  # the start of the list of grammar keys

ERROR_ROWS = [
    # Keys.
    pytest.param(
        "temperature=39",
        "temperature",
        "39",
        "did you mean temp=?",
        "temp",
        id="unknown-key-temperature-did-you-mean-temp",
    ),
    pytest.param("tmep=39", "tmep", "39", "did you mean temp=?", "temp", id="unknown-key-typo"),
    pytest.param(
        "oxygen=nc:4",
        "oxygen",
        "nc:4",
        "did you mean o2=?",
        KEY_LIST,
        id="unknown-key-oxygen-did-you-mean-o2",
    ),
    pytest.param("xyzzy=1", "xyzzy", "1", "unknown field", KEY_LIST, id="unknown-key-no-guess"),
    pytest.param("é=1", "é", "1", "not a field name", KEY_LIST, id="key-not-a-name"),
    pytest.param("temp=39 temp=40", "temp", "40", "more than once", "once", id="repeated-key"),
    pytest.param("ice=7 ICE=8", "ICE", "8", "more than once", "once", id="repeated-key-other-case"),
    pytest.param(
        "temp=39 fever", "fever", "", "expected field=value", "temp=39.2", id="token-without-equals"
    ),
    # Refused on purpose, with what to write instead.
    pytest.param(
        "sbp=85", "sbp", "85", "bp=low or pressors=N", "bp", id="sbp-refused-use-bp-or-pressors"
    ),
    pytest.param("map=60", "map", "60", "R-CRS-7", "bp", id="map-refused"),
    pytest.param("spo2=92", "spo2", "92", "use o2=", "o2", id="spo2-refused-use-o2"),
    pytest.param("fio2=0.4", "fio2", "0.4", "not FiO2", "o2", id="fio2-refused"),
    pytest.param("crs=2", "crs", "2", "stated=crs2", KEY_LIST, id="crs-grade-refused-use-stated"),
    # Temperature: never guessed, always in range.
    pytest.param(
        "temp=102.6",
        "temp",
        "102.6",
        "write temp=102.6F",
        "°F",
        id="temp-no-unit-fahrenheit-like-refused-with-hint",
    ),
    pytest.param("temp=29.9", "temp", "29.9", "outside 30-45 °C", "30-45 °C", id="temp-below-30C"),
    pytest.param("temp=45.1", "temp", "45.1", "outside 30-45 °C", "30-45 °C", id="temp-above-45C"),
    pytest.param(
        "temp=120F",
        "temp",
        "120F",
        "48.88 °C",  # truncated, never rounded up across 38.0 °C (R-CRS-1)
        "86-113 °F",
        id="temp-fahrenheit-out-of-range-shows-celsius",
    ),
    pytest.param("temp=39,2", "temp", "39,2", "decimal comma", "39.2", id="temp-decimal-comma"),
    pytest.param("temp=hot", "temp", "hot", "not a temperature", "30-45 °C", id="temp-not-number"),
    pytest.param(
        "temp=39 °C", "°C", "", "expected field=value", "field=value", id="temp-unit-after-a-space"
    ),
    # Oxygen.
    pytest.param("o2=hfnc:81", "o2", "hfnc:81", "outside 0-80", "0 to 80", id="flow-over-80"),
    pytest.param("o2=nc:-1", "o2", "nc:-1", "outside 0-80", "0 to 80", id="flow-negative"),
    pytest.param("o2=nc:0", "o2", "nc:0", "no oxygen", "o2=ra", id="nasal-cannula-at-0"),
    pytest.param("o2=hfnc:0", "o2", "hfnc:0", "no oxygen", "o2=ra", id="high-flow-at-0"),
    pytest.param("o2=nc:2,5", "o2", "nc:2,5", "decimal comma", "2.5", id="flow-decimal-comma"),
    pytest.param("o2=nc:four", "o2", "nc:four", "not a number", "nc:L", id="flow-not-a-number"),
    pytest.param("o2=tent", "o2", "tent", "not one of", "hfnc:L", id="o2-unknown-device"),
    pytest.param("o2=ra:2", "o2", "ra:2", "takes no flow", "nc:L", id="ra-with-flow"),
    pytest.param("o2=cpap:5", "o2", "cpap:5", "takes no flow", "cpap", id="cpap-with-flow"),
    pytest.param("o2=bipap:5", "o2", "bipap:5", "takes no flow", "bipap", id="bipap-with-flow"),
    pytest.param("o2=vent:5", "o2", "vent:5", "takes no flow", "vent", id="vent-with-flow"),
    # Blood pressure and pressors.
    pytest.param("bp=85", "bp", "85", "R-CRS-7", "bp=low", id="bp-number-refused"),
    pytest.param(
        "pressors=two", "pressors", "two", "not a whole number", "0-10", id="pressors-not-a-number"
    ),
    pytest.param("pressors=11", "pressors", "11", "outside 0-10", "0-10", id="pressors-over-10"),
    pytest.param(
        "vasopressin=maybe",
        "vasopressin",
        "maybe",
        "not yes or no",
        "yes or no",
        id="vasopressin-not-yes-no",
    ),
    # ICE and CAPD.
    pytest.param("ice=11", "ice", "11", "outside 0-10", "0-10", id="ice-total-over-10"),
    pytest.param("ice=7.5", "ice", "7.5", "not a whole number", "0-10", id="ice-total-decimal"),
    pytest.param(
        "ice=5+3+1+0+1",
        "ice",
        "5+3+1+0+1",
        "outside 0-4",
        "maxima 4, 3, 1, 1, 1",
        id="ice-orientation-over-4",
    ),
    pytest.param(
        "ice=4+4+1+1+1",
        "ice",
        "4+4+1+1+1",
        "outside 0-3",
        "maxima 4, 3, 1, 1, 1",
        id="ice-naming-over-3",
    ),
    pytest.param(
        "ice=4+3+2+1+1",
        "ice",
        "4+3+2+1+1",
        "outside 0-1",
        "maxima 4, 3, 1, 1, 1",
        id="ice-commands-over-1",
    ),
    pytest.param(
        "ice=4+3+1+0", "ice", "4+3+1+0", "4 items given", "ice=4+3+1+0+1", id="ice-four-items"
    ),
    pytest.param("capd=33", "capd", "33", "outside 0-32", "0-32", id="capd-over-32"),
    pytest.param(
        "baseline_capd=-1",
        "baseline_capd",
        "-1",
        "not a whole number",
        "0-32",
        id="baseline-capd-negative",
    ),
    # Enumerations.
    pytest.param(
        "loc=drowsy",
        "loc",
        "drowsy",
        "not one of",
        "alert, spontaneous, voice, touch",
        id="loc-bad-value",
    ),
    pytest.param("seizure=yes", "seizure", "yes", "not one of", "brief", id="seizure-bad-value"),
    pytest.param("motor=yes", "motor", "yes", "not one of", "weakness", id="motor-bad-value"),
    pytest.param("edema=global", "edema", "global", "not one of", "diffuse", id="edema-bad-value"),
    pytest.param(
        "signs=few",
        "signs",
        "few",
        "only records that there are none",
        "seizure=",
        id="signs-other-than-none",
    ),
    pytest.param(
        "exclude=brain",
        "exclude",
        "brain",
        "cannot be attributed",
        "consciousness",
        id="exclude-unknown-finding",
    ),
    pytest.param(
        "exclude=",
        "exclude",
        "",
        "nothing to exclude",
        "hypotension,consciousness",
        id="exclude-empty",
    ),
    # Patient facts.
    pytest.param("age=121", "age", "121", "outside 0-120", "0 to 120", id="age-over-120"),
    pytest.param("age=ten", "age", "ten", "not a number", "0 to 120", id="age-not-a-number"),
    pytest.param("weight=400", "weight", "400", "outside 0-350 kg", "kg", id="weight-over-350kg"),
    pytest.param("weight=0", "weight", "0", "outside 0-350 kg", "above 0", id="weight-zero"),
    pytest.param(
        "weight=900lb", "weight", "900lb", "outside 0-350 kg", "lb", id="weight-lb-over-350kg"
    ),
    pytest.param("day=-1", "day", "-1", "outside 0-3650", "0 to 3650", id="day-negative"),
    # stated=, at=, note=.
    pytest.param(
        "stated=crs7",
        "stated",
        "crs7",
        "'crs7' is not a stated grade",
        "grades 0-4",
        id="stated-grade-over-4",
    ),
    pytest.param(
        "stated=grade2",
        "stated",
        "grade2",
        "not a stated grade",
        "stated=crs2",
        id="stated-unknown-toxicity",
    ),
    pytest.param(
        "stated=crs2,crs3",
        "stated",
        "crs2,crs3",
        "stated twice",
        "stated=crs2,icans1",
        id="stated-crs-twice",
    ),
    pytest.param("at=25:00", "at", "25:00", "not a time", "HH:MM", id="at-hour-25"),
    pytest.param("at=14:60", "at", "14:60", "not a time", "HH:MM", id="at-minute-60"),
    pytest.param(
        "at=2026-13-01T10:00", "at", "2026-13-01T10:00", "not a valid date", "ISO", id="at-month-13"
    ),
    pytest.param("at=yesterday", "at", "yesterday", "not a time", "at=14:30", id="at-word"),
    pytest.param(
        'note="started fever',
        "note",
        '"started fever',
        "not closed",
        'note="..."',
        id="unclosed-straight-quote",
    ),
    pytest.param(
        "note=“started fever",
        "note",
        "“started fever",
        "not closed",
        'note="..."',
        id="unclosed-curly-quote",
    ),
    pytest.param(
        'note=“mismatched"',
        "note",
        '“mismatched"',
        "not closed",
        "matching quotes",
        id="mismatched-quotes",
    ),
]


@pytest.mark.parametrize(("text", "field", "value", "problem", "accepted"), ERROR_ROWS)
def test_error_names_field_value_and_what_is_accepted(
    text: str, field: str, value: str, problem: str, accepted: str
) -> None:
    error = _only_error(text)
    assert (error.field, error.value) == (field, value)
    assert problem in error.problem
    assert accepted in error.accepted
    # The one-line message a user sees carries all of it.
    assert error.problem in error.message()
    assert error.accepted in error.message()


def test_a_temperature_without_a_unit_is_never_guessed_to_be_fahrenheit() -> None:
    """102.6 is refused, not silently converted: a 3 °C misreading changes the grade."""
    (error,) = _errors("temp=102.6")
    assert "Fahrenheit" in error.problem


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("temp=25", id="too-low-for-fahrenheit"),
        pytest.param("temp=150", id="too-high-for-fahrenheit"),
    ],
)
def test_no_fahrenheit_hint_when_the_number_cannot_be_fahrenheit(text: str) -> None:
    (error,) = _errors(text)
    assert "Fahrenheit" not in error.problem


def test_a_note_over_1000_characters_is_refused() -> None:
    note = "x" * 1001
    error = _only_error(f'note="{note}"')
    assert (error.field, error.value) == ("note", note)
    assert "1001 characters" in error.problem
    assert "at most 1000" in error.accepted
    assert len(error.message()) < 300, "the message shortens the value it quotes"


def test_a_line_over_4000_characters_is_refused_before_parsing() -> None:
    error = _only_error("temp=39 " * 501)
    assert error.field == "text"
    assert "4000" in error.accepted


# ---------------------------------------------------------------------------------------------
# Contradictions, named by the keys the user typed


@pytest.mark.parametrize(
    ("text", "field", "value", "problem"),
    [
        pytest.param(
            "bp=normal pressors=1",
            "bp",
            None,
            "vasopressors mean hypotension",
            id="bp-normal-with-pressors",
        ),
        pytest.param(
            "bp=normal vasopressin=yes",
            "bp",
            None,
            "vasopressors mean hypotension",
            id="bp-normal-with-vasopressin",
        ),
        pytest.param(
            "ice=7 loc=unarousable", "ice", "7", "unarousable", id="ice-7-while-unarousable"
        ),
        pytest.param(
            "capd=5 loc=unarousable", "capd", "5", "unarousable", id="capd-while-unarousable"
        ),
        pytest.param("ice=7 capd=3", "capd", "3", "both given", id="ice-and-capd"),
        pytest.param(
            "signs=none seizure=brief",
            "signs",
            "none",
            "seizure= is also given",
            id="signs-none-with-seizure",
        ),
        pytest.param(
            "signs=none cushing=no",
            "signs",
            "none",
            "cushing= is also given",
            id="signs-none-with-a-negative-sign-too",
        ),
    ],
)
def test_contradiction_is_refused_naming_the_grammar_key(
    text: str, field: str, value: str | None, problem: str
) -> None:
    error = _only_error(text)
    assert error.field == field
    if value is not None:
        assert error.value == value
    assert problem in error.problem
    assert error.accepted


def test_ice_0_while_unarousable_is_consistent() -> None:
    assessment = _parse("ice=0 loc=unarousable").assessment
    assert (assessment.ice, assessment.consciousness) == (0, Consciousness.UNAROUSABLE)


def test_signs_none_with_two_signs_names_both() -> None:
    problems = [error.problem for error in _errors("signs=none seizure=brief motor=weakness")]
    assert problems == ["seizure= is also given", "motor= is also given"]


def test_bp_contradiction_quotes_what_the_user_typed() -> None:
    error = _only_error("bp=normal pressors=1")
    assert error.value == "normal"
    assert "bp=low" in error.accepted


# ---------------------------------------------------------------------------------------------
# Several errors at once


def test_every_error_is_reported_not_only_the_first() -> None:
    errors = _errors(
        "temperature=39 temp=102.6 o2=nc:90 ice=4+3+1+0 loc=drowsy sbp=85 temp=38 stated=crs7"
    )
    assert [(error.field, error.value) for error in errors] == [
        ("temperature", "39"),
        ("temp", "102.6"),
        ("o2", "nc:90"),
        ("ice", "4+3+1+0"),
        ("loc", "drowsy"),
        ("sbp", "85"),
        ("temp", "38"),
        ("stated", "crs7"),
    ]
    assert all(error.accepted for error in errors)


def test_the_exception_message_carries_every_error() -> None:
    with pytest.raises(GrammarError) as caught:
        parse_assessment("temp=102.6 spo2=90")
    text = str(caught.value)
    assert "temp=102.6" in text
    assert "spo2=90" in text


def test_an_unclosed_quote_and_an_earlier_bad_value_are_both_reported() -> None:
    fields = sorted(error.field for error in _errors('temp=99 note="abc'))
    assert fields == ["note", "temp"]


def test_a_bad_value_and_a_contradiction_are_both_reported() -> None:
    fields = sorted(error.field for error in _errors("temp=50 bp=normal pressors=1"))
    assert fields == ["bp", "temp"]


# ---------------------------------------------------------------------------------------------
# Grammar bugs found while writing these tests


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param("temp=" + "9" * 30 + "F", "temp", id="temp-huge-fahrenheit"),
        pytest.param("weight=" + "9" * 30 + "lb", "weight", id="weight-huge-pounds"),
    ],
)
def test_a_huge_number_is_a_grammar_error_not_a_crash(text: str, field: str) -> None:
    assert _only_error(text).field == field


def test_decimal_comma_hint_keeps_the_unit() -> None:
    assert "102.6F" in _only_error("temp=102,6F").accepted


# ---------------------------------------------------------------------------------------------
# Stated grades against computed ones


def _side(
    toxicity: str, grade: int | None = None, range_: tuple[int, int] | None = None
) -> ToxicityGrade:
    if grade is not None:
        status, summary, question = Status.GRADED, f"{toxicity} grade {grade}", None
    elif range_ is not None:
        status = Status.UNDETERMINED
        summary = f"{toxicity} grade {range_[0]}-{range_[1]}"
        question = "To decide, record oxygen support (o2=)."
    else:
        status, summary, question = Status.NOT_ASSESSED, f"{toxicity} not assessable", None
    return ToxicityGrade(
        toxicity=toxicity,
        status=status,
        grade=grade,
        range=range_,
        summary=summary,
        drivers=(),
        findings=(),
        missing=(),
        excluded=(),
        warnings=(),
        question=question,
    )


def _result(crs: ToxicityGrade, icans: ToxicityGrade) -> GradingResult:
    return GradingResult(crs=crs, icans=icans, engine="test")


def test_stated_grades_that_match_give_nothing() -> None:
    result = _result(_side("crs", 2), _side("icans", 1))
    assert stated_mismatches(result, StatedGrades(crs=2, icans=1)) == ()


def test_nothing_stated_gives_nothing() -> None:
    assert stated_mismatches(_result(_side("crs", 2), _side("icans", 1)), None) == ()


def test_a_mismatch_names_the_stated_and_the_computed_grade() -> None:
    result = _result(_side("crs", 3), _side("icans", 1))
    (message,) = stated_mismatches(result, StatedGrades(crs=2, icans=1))
    assert "Stated CRS grade 2" in message
    assert "computed CRS grade 3" in message


def test_only_the_mismatched_toxicity_is_flagged() -> None:
    result = _result(_side("crs", 3), _side("icans", 1))
    (message,) = stated_mismatches(result, StatedGrades(crs=3, icans=2))
    assert "ICANS grade 2" in message
    assert "computed ICANS grade 1" in message
    assert "CRS" not in message.replace("ICANS", "")


def test_both_mismatches_are_flagged() -> None:
    result = _result(_side("crs", 3), _side("icans", 1))
    messages = stated_mismatches(result, StatedGrades(crs=1, icans=4))
    assert len(messages) == 2
    assert messages[0].startswith("Stated CRS grade 1")
    assert messages[1].startswith("Stated ICANS grade 4")


def test_a_toxicity_not_stated_is_not_compared() -> None:
    result = _result(_side("crs", 3), _side("icans", 1))
    assert stated_mismatches(result, StatedGrades(crs=3)) == ()


def test_a_stated_grade_within_an_undetermined_range_says_so() -> None:
    result = _result(_side("crs", range_=(1, 4)), _side("icans", 0))
    (message,) = stated_mismatches(result, StatedGrades(crs=2))
    assert "within the computed range 1-4" in message
    assert "do not decide" in message
    assert "o2=" in message, "it says what would decide the grade"


def test_a_stated_grade_outside_an_undetermined_range_says_so() -> None:
    result = _result(_side("crs", range_=(1, 4)), _side("icans", 0))
    (message,) = stated_mismatches(result, StatedGrades(crs=0))
    assert "outside the computed range 1-4" in message


def test_a_stated_grade_when_not_assessable_says_so() -> None:
    result = _result(_side("crs", 1), _side("icans"))
    (message,) = stated_mismatches(result, StatedGrades(icans=1))
    assert "not assessable" in message


@pytest.mark.parametrize(
    ("stated", "flagged"),
    [
        pytest.param("crs3,icans1", 0, id="matches-the-design-example"),
        pytest.param("crs2,icans1", 1, id="crs-under-called"),
    ],
)
def test_stated_mismatches_on_the_design_example_line(stated: str, flagged: int) -> None:
    parsed = _parse(f"temp=39.4 pressors=1 o2=nc:3 ice=7 loc=alert signs=none stated={stated}")
    assert len(stated_mismatches(grade(parsed.assessment), parsed.stated)) == flagged
