"""The assessment form: valid Block Kit, read through the grammar, errors under their fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.replies import FormKind
from grading.assessment import (
    AttributableFinding,
    CerebralEdema,
    Consciousness,
    OxygenDevice,
    Seizure,
)
from grading.grammar import MAX_NOTE_CHARS, parse_assessment
from handlers.forms import FormErrors, assessment_form, form_case, read_assessment_form
from tests.slack.blockkit import assert_valid_view, submission

CODE = "CT-7K4Q"
FORM = assessment_form(CODE)
INPUTS = {b["block_id"]: b for b in FORM["blocks"] if b["type"] == "input"}
ICE = ("ice_orientation", "ice_naming", "ice_commands", "ice_writing", "ice_attention")


def read(**answers: Any) -> Any:
    return read_assessment_form(submission(FORM, answers))


def errors(**answers: Any) -> dict[str, str]:
    with pytest.raises(FormErrors) as caught:
        read(**answers)
    assert set(caught.value.errors) <= set(INPUTS), "every error sits under a field"
    assert caught.value.response() == {"response_action": "errors", "errors": caught.value.errors}
    return caught.value.errors


# ---------------------------------------------------------------------------------------------
# The view


def test_the_form_is_a_valid_modal_that_remembers_its_case() -> None:
    assert_valid_view(FORM)
    assert FORM["callback_id"] == FormKind.ASSESSMENT.value == "assess.modal"
    assert json.loads(FORM["private_metadata"]) == {"case": CODE}
    assert FORM["title"]["text"] == "Assess CT-7K4Q"
    assert form_case(FORM) == CODE


def test_every_field_is_optional_and_starts_empty() -> None:
    for block in INPUTS.values():
        assert block["optional"] is True, block["block_id"]
        element = block["element"]
        assert not {"initial_option", "initial_options", "initial_value"} & set(element)


def test_the_form_offers_every_design_4_input() -> None:
    expected = {
        "temp",
        "temp_unit",
        "bp",
        "pressors",
        "vasopressin",
        "o2_device",
        "o2_flow",
        "treated",
        *ICE,
        "capd",
        "loc",
        "aphasia",
        "seizure",
        "motor",
        "edema",
        "papilledema",
        "cn6",
        "posturing",
        "cushing",
        "signs",
        "tremor",
        "ich",
        "exclude",
        "stated_crs",
        "stated_icans",
        "at",
        "note",
    }
    assert set(INPUTS) == expected
    devices = [o["value"] for o in INPUTS["o2_device"]["element"]["options"]][1:]
    assert len(devices) == len(OxygenDevice)
    exclusions = [o["value"] for o in INPUTS["exclude"]["element"]["options"]]
    assert sorted(exclusions) == sorted(f.value for f in AttributableFinding)
    units = [o["text"]["text"] for o in INPUTS["temp_unit"]["element"]["options"]]
    assert units == ["°C", "°F"]


def test_selects_offer_not_assessed_because_slack_cannot_clear_a_choice() -> None:
    for block in INPUTS.values():
        if block["element"]["type"] == "static_select":
            first = block["element"]["options"][0]
            assert first["value"] == "unset"
            assert first["text"]["text"] in {"Not assessed", "Not stated"}


def test_a_case_label_in_the_intro_cannot_ping() -> None:
    form = assessment_form("<!channel>")
    assert "&lt;!channel&gt;" in form["blocks"][0]["text"]["text"]


# ---------------------------------------------------------------------------------------------
# Reading a submission


def test_a_full_submission_is_read_as_the_grammar_reads_the_same_line() -> None:
    at = int(datetime(2026, 11, 23, 14, 30, tzinfo=UTC).timestamp())
    code, parsed = read(
        temp="102.6",
        temp_unit="F",
        bp="low",
        pressors="1",
        vasopressin="yes",
        o2_device="hfnc",
        o2_flow="30",
        treated="yes",
        ice_orientation="3",
        ice_naming="2",
        ice_commands="1",
        ice_writing="0",
        ice_attention="1",
        loc="voice",
        aphasia="no",
        seizure="brief",
        motor="weakness",
        edema="focal",
        papilledema="no",
        cn6="no",
        posturing="no",
        cushing="no",
        tremor="yes",
        ich="no",
        exclude=["fever", "hypoxia"],
        stated_crs="3",
        stated_icans="3",
        at=at,
        note="rigors at 03:00",
    )
    assert code == CODE
    line = (
        "temp=102.6F bp=low pressors=1 vasopressin=yes o2=hfnc:30 treated=yes "
        "ice=3+2+1+0+1 loc=voice aphasia=no seizure=brief motor=weakness edema=focal "
        "papilledema=no cn6=no posturing=no cushing=no tremor=yes ich=no exclude=fever,hypoxia "
        "stated=crs3,icans3 at=2026-11-23T14:30+00:00"
    )
    typed = parse_assessment(line)
    assert parsed.assessment == typed.assessment
    assert parsed.stated == typed.stated
    assert parsed.at == typed.at == at_utc(at)
    assert parsed.interpretations[:-1] == typed.interpretations
    assert parsed.interpretations[-1] == "note recorded (15 characters)"
    assert parsed.note == "rigors at 03:00"
    a = parsed.assessment
    assert a.temperature_c == 39.22
    assert a.oxygen is not None
    assert a.oxygen.device is OxygenDevice.HIGH_FLOW_NASAL_CANNULA
    assert a.oxygen.flow_l_min == 30
    assert a.ice_total == 7
    assert a.consciousness is Consciousness.AWAKENS_TO_VOICE
    assert a.seizure is Seizure.RAPID_RESOLUTION
    assert a.cerebral_edema is CerebralEdema.FOCAL
    assert a.attributed_elsewhere == {AttributableFinding.FEVER, AttributableFinding.HYPOXIA}
    assert "temp=102.6F → 39.22 °C (converted from 102.6 °F)" in parsed.interpretations


def at_utc(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def test_what_is_left_empty_stays_not_assessed_never_zero_or_normal() -> None:
    _, parsed = read(temp="38.4", temp_unit="C")
    a = parsed.assessment
    assert a.temperature_c == 38.4
    assert a.model_dump(exclude_defaults=True) == {"temperature_c": 38.4}
    assert a.ice_total is None
    assert a.vasopressors is None
    assert a.hypotension is None
    assert parsed.stated is None
    assert parsed.at is None
    assert parsed.note is None


def test_not_assessed_chosen_explicitly_is_the_same_as_empty() -> None:
    _, parsed = read(temp="38.4", temp_unit="C", bp="unset", loc="unset", stated_crs="unset")
    assert parsed.assessment.hypotension is None
    assert parsed.assessment.consciousness is None
    assert parsed.stated is None


def test_a_unit_written_with_the_number_counts_when_no_unit_is_chosen() -> None:
    # Slack's number box does not allow letters, but a reader must not depend on that.
    _, parsed = read(temp="101.2 F")
    assert parsed.assessment.temperature_c == 38.44


def test_signs_none_records_all_seven_signs_absent() -> None:
    _, parsed = read(signs=["none"], loc="alert")
    a = parsed.assessment
    assert (a.seizure, a.motor_weakness, a.cerebral_edema) == (
        Seizure.NONE,
        False,
        CerebralEdema.NONE,
    )
    assert (a.papilledema, a.cn6_palsy, a.posturing, a.cushings_triad) == (False,) * 4


def test_capd_is_read_instead_of_ice() -> None:
    _, parsed = read(capd="12")
    assert parsed.assessment.capd == 12
    assert parsed.assessment.ice_total is None


def test_room_air_and_a_cannula_without_flow_are_read() -> None:
    _, parsed = read(o2_device="ra")
    assert parsed.assessment.oxygen is not None
    assert parsed.assessment.oxygen.device is OxygenDevice.ROOM_AIR
    _, parsed = read(o2_device="nc")
    assert parsed.interpretations == ("o2=nc → nasal cannula, flow not given",)


# ---------------------------------------------------------------------------------------------
# Errors, each under its field


def test_nothing_entered_is_refused() -> None:
    assert errors() == {"temp": "Nothing was entered: record at least one finding."}
    assert "temp" in errors(note="just a note", stated_crs="1")


def test_a_temperature_without_a_unit_is_never_guessed() -> None:
    assert errors(temp="39") == {
        "temp_unit": "Choose °C or °F for the temperature: it is never guessed."
    }


def test_a_written_unit_that_contradicts_the_chosen_one_is_refused() -> None:
    assert errors(temp="102F", temp_unit="C") == {
        "temp": "The value says °F but °C is chosen below."
    }


def test_a_grammar_error_shows_under_the_field_that_holds_it() -> None:
    found = errors(temp="50", temp_unit="C")
    assert list(found) == ["temp"]
    assert found["temp"].startswith("outside 30-45 °C. Accepted: a temperature of 30-45 °C")


def test_a_fahrenheit_value_with_celsius_chosen_is_refused_not_converted() -> None:
    assert "or 86-113 °F" in errors(temp="102.6", temp_unit="C")["temp"]


def test_a_decimal_comma_is_refused_with_the_point_version() -> None:
    assert "use a point" in errors(temp="38,5", temp_unit="C")["temp"]


def test_every_problem_shows_at_once_each_under_its_own_field() -> None:
    found = errors(temp="50", temp_unit="C", o2_device="ra", o2_flow="3", capd="40")
    assert set(found) == {"temp", "o2_flow", "capd"}
    assert "ra takes no flow" in found["o2_flow"]
    assert "outside 0-32" in found["capd"]


def test_cross_field_contradictions_name_the_right_field() -> None:
    ice = dict(zip(ICE, ("4", "3", "1", "1", "1"), strict=True))
    assert "one assessment uses one tool" in errors(**ice, capd="10")["capd"]
    assert "cannot perform ICE" in errors(**ice, loc="unarousable")["ice_orientation"]
    assert "vasopressors mean hypotension" in errors(bp="normal", pressors="2")["bp"]
    assert "seizure= is also given" in errors(signs=["none"], seizure="brief")["signs"]


def test_some_ice_items_but_not_all_is_refused_under_each_missing_item() -> None:
    found = errors(ice_orientation="4", ice_naming="3")
    assert set(found) == {"ice_commands", "ice_writing", "ice_attention"}
    assert all("a missing item is never 0" in message for message in found.values())


def test_a_flow_without_a_device_asks_for_the_device() -> None:
    assert errors(o2_flow="4") == {"o2_device": "Choose the oxygen device this flow is given with."}


def test_text_in_a_number_box_cannot_add_a_field_to_the_line() -> None:
    found = errors(temp="39 ice=10", temp_unit="C")
    assert list(found) == ["temp"]  # read as one value "39ice=10", refused; no ice recorded
    assert (
        errors(o2_device="nc", o2_flow='4"')["o2_flow"] == "Enter a number only, for example 39.2."
    )


def test_a_note_is_kept_as_typed_and_never_read_as_fields() -> None:
    note = 'he said "fine" ice=10 loc=alert <!channel> note="x"'
    _, parsed = read(temp="38", temp_unit="C", note=note)
    assert parsed.note == note
    assert parsed.assessment.ice_total is None
    assert parsed.assessment.consciousness is None


def test_an_over_long_note_is_refused_under_the_note() -> None:
    found = errors(temp="38", temp_unit="C", note="x" * (MAX_NOTE_CHARS + 1))
    assert found == {"note": f"{MAX_NOTE_CHARS + 1} characters; a note holds at most 1000."}


def test_a_form_that_lost_its_case_is_refused_not_guessed() -> None:
    for metadata in (
        None,
        "",
        "{",
        json.dumps({"case": 7}),
        json.dumps(["CT-7K4Q"]),
        '{"case":" "}',
    ):
        view = submission({**FORM, "private_metadata": metadata}, {"temp": "38", "temp_unit": "C"})
        with pytest.raises(FormErrors) as caught:
            read_assessment_form(view)
        assert caught.value.errors == {
            "temp": "This form has lost its case. Close it and open it again."
        }


def test_an_option_the_form_never_offered_is_refused() -> None:
    view = submission(FORM, {"bp": "low"})
    view["state"]["values"]["bp"]["bp"]["selected_option"]["value"] = "very_low"
    view["state"]["values"]["exclude"]["exclude"]["selected_options"] = [{"value": "grade"}]
    with pytest.raises(FormErrors) as caught:
        read_assessment_form(view)
    assert set(caught.value.errors) == {"bp", "exclude"}


# ---------------------------------------------------------------------------------------------
# Anything at all


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


def _entry(block_id: str, data: st.DataObject) -> dict[str, Any]:
    element = INPUTS[block_id]["element"]
    offered = [o["value"] for o in element.get("options", [])]
    value = data.draw(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(offered) if offered else st.text(max_size=5),
            st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{1,3})?[CFcf]?", fullmatch=True),
            _JSONISH,
        )
    )
    return data.draw(
        st.sampled_from(
            [
                {"type": element["type"], "value": value},
                {"type": element["type"], "selected_option": {"value": value}},
                {"type": element["type"], "selected_option": value},
                {"type": element["type"], "selected_options": [{"value": value}]},
                {"type": element["type"], "selected_options": value},
                {"type": element["type"], "selected_date_time": value},
                value,
            ]
        )
    )


@given(st.data())
def test_any_submitted_values_give_a_reading_or_form_errors_never_a_crash(
    data: st.DataObject,
) -> None:
    blocks = data.draw(st.lists(st.sampled_from(sorted(INPUTS)), unique=True, max_size=12))
    values = {block_id: {block_id: _entry(block_id, data)} for block_id in blocks}
    view = {**FORM, "state": {"values": values}}
    try:
        code, parsed = read_assessment_form(view)
    except FormErrors as exc:
        refused: dict[str, str] | None = exc.errors
    else:
        refused = None
        assert code == CODE
        assert parsed.interpretations
    if refused is not None:
        assert refused
        assert set(refused) <= set(INPUTS)
        assert all(message.strip() for message in refused.values())


@given(_JSONISH)
def test_any_view_shape_at_all_gives_form_errors_never_a_crash(view: Any) -> None:
    with pytest.raises(FormErrors):
        read_assessment_form(view)
