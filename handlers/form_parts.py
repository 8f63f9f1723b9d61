"""What every toxbot form shares: building modal blocks, reading a submission, its errors.

A submitted view comes from Slack, but a test, a replay or a forged request can send any shape:
:class:`SubmittedValues` reads ``state.values`` defensively and records a field it cannot read as
an error under that field instead of raising anything else. :class:`FormErrors` carries those
messages back to Slack (``response_action: errors``) so they show under their fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from bot.replies import FormKind

MAX_TITLE: Final = 24  # modal titles, submit and close labels
MAX_ERROR: Final = 500  # an inline error is read under a field: keep it short
UNSET: Final = "unset"  # the "Not assessed" option of every select
_CASE_CODE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")


class FormErrors(Exception):
    """A submission Slack should show again with ``errors`` (block id → message) inline."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = {block: _short(message) for block, message in errors.items()}
        super().__init__("; ".join(f"{block}: {msg}" for block, msg in self.errors.items()))

    def response(self) -> dict[str, Any]:
        """The ``ack`` payload that keeps the modal open with the errors under their fields."""
        return {"response_action": "errors", "errors": dict(self.errors)}


def _short(message: str) -> str:
    return message if len(message) <= MAX_ERROR else message[: MAX_ERROR - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Block helpers


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def option(label: str, value: str) -> dict[str, Any]:
    return {"text": plain(label), "value": value}


def input_block(
    block_id: str, label: str, element: dict[str, Any], *, hint: str | None, optional: bool
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": {**element, "action_id": block_id},
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    return block


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text)}


def intro(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def modal(
    kind: FormKind, title: str, case_code: str, blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": kind.value,
        "private_metadata": json.dumps({"case": case_code}),
        "title": plain(_fit_title(title)),
        "submit": plain("Record"),
        "close": plain("Cancel"),
        "blocks": blocks,
    }


def _fit_title(title: str) -> str:
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"


def number_box(block_id: str, label: str, hint: str | None, *, decimal: bool) -> dict[str, Any]:
    element = {"type": "number_input", "is_decimal_allowed": decimal}
    return input_block(block_id, label, element, hint=hint, optional=True)


def datetime_box(block_id: str, label: str, hint: str) -> dict[str, Any]:
    return input_block(block_id, label, {"type": "datetimepicker"}, hint=hint, optional=True)


# ---------------------------------------------------------------------------------------------
# Reading a submission


class SubmittedValues:
    """A submitted view's ``state.values``, read defensively: any shape, never a crash."""

    def __init__(self, view: Mapping[str, Any]) -> None:
        state = view.get("state") if isinstance(view, Mapping) else None
        values = state.get("values") if isinstance(state, Mapping) else None
        self._values: Mapping[str, Any] = values if isinstance(values, Mapping) else {}
        self.errors: dict[str, str] = {}

    def _entry(self, block_id: str) -> Mapping[str, Any]:
        block = self._values.get(block_id)
        entry = block.get(block_id) if isinstance(block, Mapping) else None
        return entry if isinstance(entry, Mapping) else {}

    def _refuse(self, block_id: str) -> None:
        self.errors.setdefault(block_id, "This value could not be read; enter it again.")

    def text(self, block_id: str) -> str | None:
        """A text or number box's value, or ``None`` when empty."""
        value = self._entry(block_id).get("value")
        if value is None:
            return None
        if not isinstance(value, str):
            self._refuse(block_id)
            return None
        return value if value.strip() else None

    def selected(self, block_id: str) -> str | None:
        """The chosen option's value, or ``None`` when nothing (or "Not assessed") is chosen."""
        option = self._entry(block_id).get("selected_option")
        if option is None:
            return None
        value = option.get("value") if isinstance(option, Mapping) else None
        if not isinstance(value, str):
            self._refuse(block_id)
            return None
        return None if value == UNSET else value

    def ticked(self, block_id: str) -> list[str]:
        """The values of the ticked checkboxes."""
        options = self._entry(block_id).get("selected_options")
        if options is None:
            return []
        if not isinstance(options, list):
            self._refuse(block_id)
            return []
        values = [o.get("value") if isinstance(o, Mapping) else None for o in options]
        if not all(isinstance(value, str) for value in values):
            self._refuse(block_id)
            return []
        return [str(value) for value in values]

    def moment(self, block_id: str) -> datetime | None:
        """A date-time picker's choice as an aware UTC time, or ``None`` when empty."""
        stamp = self._entry(block_id).get("selected_date_time")
        if stamp is None:
            return None
        if isinstance(stamp, str) and re.fullmatch("[0-9]{1,12}", stamp):
            stamp = int(stamp)
        if isinstance(stamp, bool) or not isinstance(stamp, int):
            self._refuse(block_id)
            return None
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            self._refuse(block_id)
            return None


def form_case(view: Mapping[str, Any]) -> str:
    """The case code a form records on, from its ``private_metadata``.

    Raises :class:`FormErrors` (under the form's first input) when the metadata is missing or
    not a case code: the form must be opened again, and nothing is recorded on a guessed case.
    """
    raw = view.get("private_metadata") if isinstance(view, Mapping) else None
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        data = None
    code = data.get("case") if isinstance(data, dict) else None
    if isinstance(code, str) and _CASE_CODE.fullmatch(code):
        return code
    raise FormErrors(
        {_first_input(view): "This form has lost its case. Close it and open it again."}
    )


def _first_input(view: Mapping[str, Any]) -> str:
    blocks = view.get("blocks") if isinstance(view, Mapping) else None
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, Mapping) and block.get("type") == "input":
            block_id = block.get("block_id")
            if isinstance(block_id, str) and block_id:
                return block_id
    return "case"  # no input to show it under; Slack then shows a generic error
