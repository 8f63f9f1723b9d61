"""The dose form: drug, dose in mg, route and the time given, read into ``record_dose`` data.

Doses are entered in mg only, and the form says so: converting mg/kg needs the case's weight, and
a form that silently multiplied would be guessing. A dose over a protocol limit is still recorded
(it was given) and the reply flags it (D17).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from pydantic import ValidationError

from bot.replies import FormKind
from grading.case import Dose, Drug, Route
from handlers.blocks import escape_mrkdwn
from handlers.form_parts import (
    FormErrors,
    SubmittedValues,
    datetime_box,
    form_case,
    input_block,
    intro,
    modal,
    option,
    plain,
)

DRUG: Final = "drug"
DOSE_MG: Final = "dose_mg"
ROUTE: Final = "route"
GIVEN_AT: Final = "at"
MAX_DOSE_MG: Final = Decimal(20000)
_DOSE: Final = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?|\.[0-9]{1,6}")
_DOSE_ACCEPTS: Final = "a dose in mg above 0 up to 20000, for example 560 (mg only: convert mg/kg)"


def dose_form(case_code: str) -> dict[str, Any]:
    """The dose modal for ``case_code``: drug, dose in mg, route and time given."""
    blocks = [
        intro(
            f"Case *{escape_mrkdwn(case_code)}*. Doses are entered in *mg only*: convert a "
            "mg/kg dose to mg first. The reply shows the dose against the protocol's limits."
        ),
        input_block(
            DRUG,
            "Drug",
            {
                "type": "static_select",
                "placeholder": plain("Choose the drug"),
                "options": [option(drug.value.replace("_", " "), drug.value) for drug in Drug],
            },
            hint=None,
            optional=False,
        ),
        input_block(
            DOSE_MG,
            "Dose (mg)",
            {"type": "number_input", "is_decimal_allowed": True, "min_value": "0"},
            hint="In mg. A dose over a limit is still recorded, and flagged.",
            optional=False,
        ),
        input_block(
            ROUTE,
            "Route",
            {
                "type": "static_select",
                "placeholder": plain("Not recorded"),
                "options": [option(route.value.upper(), route.value) for route in Route],
            },
            hint=None,
            optional=True,
        ),
        datetime_box(GIVEN_AT, "Given at", "Leave empty for now."),
    ]
    return modal(FormKind.DOSE, f"Dose {case_code}", case_code, blocks)


def read_dose_form(view: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The case code and the data for ``Services.record_dose``: drug, dose_mg, route, at.

    ``route`` and ``at`` are left out when not given (the service records the time as now).
    Raises :class:`FormErrors` naming each bad field.
    """
    case_code = form_case(view)
    values = SubmittedValues(view)
    data: dict[str, Any] = {}
    drug = values.selected(DRUG)
    if drug is None:
        values.errors.setdefault(DRUG, "Choose the drug.")
    elif drug not in {d.value for d in Drug}:
        values.errors[DRUG] = "Not one of the choices; choose again."
    else:
        data["drug"] = drug
    dose = _dose_mg(values)
    if dose is not None:
        data["dose_mg"] = dose
    route = values.selected(ROUTE)
    if route is not None:
        if route in {r.value for r in Route}:
            data["route"] = route
        else:
            values.errors[ROUTE] = "Not one of the choices; choose again."
    moment = values.moment(GIVEN_AT)
    if moment is not None:
        data["at"] = moment
    if values.errors:
        raise FormErrors(values.errors)
    _check_dose(data)
    return case_code, data


def _dose_mg(values: SubmittedValues) -> float | None:
    text = values.text(DOSE_MG)
    if text is None:
        values.errors.setdefault(DOSE_MG, "Enter the dose in mg.")
        return None
    token = "".join(text.split()).lower()
    number = token.removesuffix("mg")
    problem = (
        "Not a dose in mg"
        if "/" in token or re.search("[a-z]", number)
        else "Decimal commas are not read; use a point"
        if "," in number
        else "Not a number"
        if not _DOSE.fullmatch(number)
        else "Outside 0-20000 mg"
        if not Decimal(0) < Decimal(number) <= MAX_DOSE_MG
        else None
    )
    if problem is not None:
        values.errors[DOSE_MG] = f"{problem}. Accepted: {_DOSE_ACCEPTS}"
        return None
    return float(number)


def _check_dose(data: Mapping[str, Any]) -> None:
    """What the form read is a :class:`Dose` the services accept (time aside)."""
    try:
        Dose.model_validate({"at": datetime(2000, 1, 1, tzinfo=UTC), **data})
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors(include_url=False):
            field = str(error["loc"][0]) if error["loc"] else DOSE_MG
            block_id = {"drug": DRUG, "dose_mg": DOSE_MG, "route": ROUTE}.get(field, GIVEN_AT)
            errors.setdefault(block_id, error["msg"])
        raise FormErrors(errors) from None
