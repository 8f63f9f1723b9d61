"""The dose form: valid Block Kit, mg only, read into what ``Services.record_dose`` takes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.replies import FormKind
from grading.case import Dose, Drug, Route
from handlers.forms import FormErrors, dose_form, form_case, read_dose_form
from tests.slack.blockkit import assert_valid_view, submission

CODE = "CT-7K4Q"
FORM = dose_form(CODE)
INPUTS = {b["block_id"]: b for b in FORM["blocks"] if b["type"] == "input"}


def read(**answers: Any) -> tuple[str, dict[str, Any]]:
    return read_dose_form(submission(FORM, answers))


def errors(**answers: Any) -> dict[str, str]:
    with pytest.raises(FormErrors) as caught:
        read(**answers)
    return caught.value.errors


def test_the_form_is_a_valid_modal_for_its_case_that_says_mg_only() -> None:
    assert_valid_view(FORM)
    assert FORM["callback_id"] == FormKind.DOSE.value == "dose.modal"
    assert json.loads(FORM["private_metadata"]) == {"case": CODE}
    assert form_case(FORM) == CODE
    assert set(INPUTS) == {"drug", "dose_mg", "route", "at"}
    assert "mg only" in FORM["blocks"][0]["text"]["text"]
    assert INPUTS["dose_mg"]["label"]["text"] == "Dose (mg)"
    drugs = [o["value"] for o in INPUTS["drug"]["element"]["options"]]
    assert drugs == [drug.value for drug in Drug]
    routes = [o["value"] for o in INPUTS["route"]["element"]["options"]]
    assert routes == [route.value for route in Route]
    assert INPUTS["drug"]["optional"] is False
    assert INPUTS["dose_mg"]["optional"] is False
    assert INPUTS["route"]["optional"] is True
    assert INPUTS["at"]["optional"] is True


def test_a_dose_is_read_into_record_dose_data_that_makes_a_valid_dose() -> None:
    given_at = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    code, data = read(drug="tocilizumab", dose_mg="560", route="iv", at=int(given_at.timestamp()))
    assert code == CODE
    assert data == {"drug": "tocilizumab", "dose_mg": 560.0, "route": "iv", "at": given_at}
    assert Dose.model_validate(data).dose_mg == 560


def test_route_and_time_are_left_out_when_not_given_so_the_service_uses_now() -> None:
    _, data = read(drug="dexamethasone", dose_mg="10")
    assert data == {"drug": "dexamethasone", "dose_mg": 10.0}


@pytest.mark.parametrize(("typed", "mg"), [("0.5", 0.5), (" 1000 ", 1000.0), ("800mg", 800.0)])
def test_doses_in_mg_are_read(typed: str, mg: float) -> None:
    assert read(drug="tocilizumab", dose_mg=typed)[1]["dose_mg"] == mg


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("8mg/kg", "Not a dose in mg"),
        ("2 g", "Not a dose in mg"),
        ("12,5", "Decimal commas are not read; use a point"),
        ("-5", "Not a number"),
        ("0", "Outside 0-20000 mg"),
        ("20001", "Outside 0-20000 mg"),
        ("lots", "Not a dose in mg"),
    ],
)
def test_a_dose_that_is_not_plainly_mg_is_refused_never_converted(typed: str, problem: str) -> None:
    found = errors(drug="tocilizumab", dose_mg=typed)
    assert list(found) == ["dose_mg"]
    assert found["dose_mg"].startswith(problem + ". Accepted: a dose in mg")


def test_drug_and_dose_are_required() -> None:
    assert errors() == {"drug": "Choose the drug.", "dose_mg": "Enter the dose in mg."}


def test_options_the_form_never_offered_are_refused() -> None:
    view = submission(FORM, {"drug": "tocilizumab", "dose_mg": "560", "route": "iv"})
    values = view["state"]["values"]
    values["drug"]["drug"]["selected_option"]["value"] = "aspirin"
    values["route"]["route"]["selected_option"]["value"] = "im"
    with pytest.raises(FormErrors) as caught:
        read_dose_form(view)
    assert set(caught.value.errors) == {"drug", "route"}


def test_a_form_without_its_case_is_refused_under_its_first_field() -> None:
    view = submission({**FORM, "private_metadata": "{}"}, {"drug": "anakinra", "dose_mg": "100"})
    with pytest.raises(FormErrors) as caught:
        read_dose_form(view)
    assert list(caught.value.errors) == ["drug"]


_ANY = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.lists(st.text())
)


@given(
    drug=st.one_of(st.sampled_from([d.value for d in Drug]), _ANY),
    dose=st.one_of(st.from_regex(r"[0-9.,/a-z -]{0,12}", fullmatch=True), _ANY),
    route=st.one_of(st.sampled_from([r.value for r in Route]), _ANY),
    at=_ANY,
)
def test_any_submitted_values_give_dose_data_or_form_errors_never_a_crash(
    drug: Any, dose: Any, route: Any, at: Any
) -> None:
    values = {
        "drug": {"drug": {"type": "static_select", "selected_option": {"value": drug}}},
        "dose_mg": {"dose_mg": {"type": "number_input", "value": dose}},
        "route": {"route": {"type": "static_select", "selected_option": {"value": route}}},
        "at": {"at": {"type": "datetimepicker", "selected_date_time": at}},
    }
    try:
        _, data = read_dose_form({**FORM, "state": {"values": values}})
    except FormErrors as exc:
        refused: dict[str, str] | None = exc.errors
    else:
        refused = None
        placed = {"at": datetime(2026, 1, 1, tzinfo=UTC), **data}
        assert Dose.model_validate(placed).drug.value == drug
    if refused is not None:
        assert refused
        assert set(refused) <= set(INPUTS)
