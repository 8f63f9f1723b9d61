"""Block Kit validation for tests: slack_sdk's models, plus the limits they do not check.

``assert_valid_message`` and ``assert_valid_view`` parse every block with slack_sdk's models,
run every validator of every nested object (``validate_json`` itself does not recurse), insist
that nothing is lost in the round trip (a misspelt key would be dropped silently by the SDK and
ignored, or refused, by Slack), and then check the limits the SDK misses: 50 blocks per message,
100 per view, 3,000 characters per section text, 2,000 per section field, 10 options per
checkbox group or radio group, 10 context elements, unique block and action ids, and no blank
text where Slack requires some.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELD = 2000
MAX_CHOICE_OPTIONS = 10  # checkboxes and radio buttons
MAX_CONTEXT_ELEMENTS = 10
MAX_PRIVATE_METADATA = 3000
INPUT_ELEMENTS = frozenset(
    {
        "plain_text_input",
        "number_input",
        "static_select",
        "multi_static_select",
        "checkboxes",
        "radio_buttons",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "users_select",
        "conversations_select",
        "channels_select",
        "email_text_input",
        "url_text_input",
        "rich_text_input",
    }
)


def assert_valid_message(payload: Mapping[str, Any]) -> None:
    """``payload`` is a message Slack accepts: a non-blank ``text`` fallback and valid blocks."""
    text = payload.get("text")
    assert isinstance(text, str), "a message needs a plain text fallback"
    assert text.strip(), "the text fallback is blank"
    blocks = payload.get("blocks", [])
    assert isinstance(blocks, list)
    assert len(blocks) <= MAX_MESSAGE_BLOCKS, f"{len(blocks)} blocks; a message allows 50"
    _assert_valid_blocks(blocks, surface="message")


def assert_valid_view(view: Mapping[str, Any]) -> None:
    """``view`` is a modal or home view Slack accepts."""
    parsed = View(**dict(view))
    _validate_tree(parsed)
    _assert_round_trip(parsed.to_dict(), dict(view), "view")
    blocks = view.get("blocks", [])
    assert isinstance(blocks, list)
    assert 0 < len(blocks) <= MAX_VIEW_BLOCKS, f"{len(blocks)} blocks; a view allows 1-100"
    metadata = view.get("private_metadata")
    assert metadata is None or len(metadata) <= MAX_PRIVATE_METADATA
    if view.get("type") == "modal":
        has_input = any(block.get("type") == "input" for block in blocks)
        assert not has_input or view.get("submit"), "a modal with inputs needs a submit button"
    _assert_valid_blocks(blocks, surface=str(view.get("type")))


def _assert_valid_blocks(blocks: Sequence[Mapping[str, Any]], *, surface: str) -> None:
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"block {index} ({block.get('type')})"
        parsed = Block.parse(dict(block))
        assert parsed is not None, f"{where}: not a block type slack_sdk knows"
        _validate_tree(parsed)
        _assert_round_trip(parsed.to_dict(), dict(block), where)
        block_id = block.get("block_id")
        if block_id is not None:
            assert block_id not in block_ids, f"{where}: block_id {block_id!r} repeated"
            block_ids.add(block_id)
        _assert_block_limits(block, where, surface)


def _assert_block_limits(block: Mapping[str, Any], where: str, surface: str) -> None:
    kind = block.get("type")
    if kind == "section":
        text = block.get("text")
        if text is not None:
            assert text["text"].strip(), f"{where}: blank section text"
            assert _length(text["text"]) <= MAX_SECTION_TEXT, f"{where}: section text too long"
        for field in block.get("fields", []):
            assert field["text"].strip(), f"{where}: blank section field"
            assert _length(field["text"]) <= MAX_SECTION_FIELD, f"{where}: section field too long"
    elif kind == "context":
        elements = block["elements"]
        assert 0 < len(elements) <= MAX_CONTEXT_ELEMENTS, f"{where}: {len(elements)} elements"
        for element in elements:
            if "text" in element:
                assert element["text"].strip(), f"{where}: blank context text"
                assert _length(element["text"]) <= MAX_SECTION_TEXT
    elif kind == "actions":
        ids = [e.get("action_id") for e in block["elements"] if e.get("action_id")]
        assert len(ids) == len(set(ids)), f"{where}: an action_id repeats in one block"
    elif kind == "input":
        assert surface != "message", f"{where}: input blocks belong in views"
        assert block.get("block_id"), f"{where}: an input without a block_id cannot be read"
        element = block["element"]
        assert element["type"] in INPUT_ELEMENTS, f"{where}: {element['type']} is not an input"
        assert element.get("action_id"), f"{where}: an input element needs an action_id"
    for element in _elements(block):
        if element.get("type") in {"checkboxes", "radio_buttons"}:
            count = len(element.get("options", []))
            assert 0 < count <= MAX_CHOICE_OPTIONS, f"{where}: {count} options; at most 10"


def _elements(block: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    if "element" in block:
        yield block["element"]
    if "accessory" in block:
        yield block["accessory"]
    if block.get("type") == "actions":
        yield from block["elements"]


def _length(text: str) -> int:
    """UTF-16 code units: what Slack may count, never less than ``len``."""
    return len(text.encode("utf-16-le")) // 2


def _validate_tree(obj: Any) -> None:
    """Run ``validate_json`` on ``obj`` and every model object nested inside it."""
    if isinstance(obj, JsonObject):
        obj.validate_json()
        for value in vars(obj).values():
            _validate_tree(value)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _validate_tree(item)


def _assert_round_trip(parsed: Any, original: Any, where: str) -> None:
    """Every key given survives slack_sdk's parse: none was misspelt or put in the wrong place."""
    if isinstance(original, Mapping):
        assert isinstance(parsed, Mapping), f"{where}: {original!r} became {parsed!r}"
        for key, value in original.items():
            assert key in parsed, f"{where}: key {key!r} is not part of this object"
            _assert_round_trip(parsed[key], value, f"{where}.{key}")
    elif isinstance(original, list):
        assert isinstance(parsed, list), f"{where}: {original!r} became {parsed!r}"
        assert len(parsed) == len(original), f"{where}: items lost"
        for index, (got, given) in enumerate(zip(parsed, original, strict=True)):
            _assert_round_trip(got, given, f"{where}[{index}]")
    else:
        assert parsed == original, f"{where}: {original!r} became {parsed!r}"


def submission(view: Mapping[str, Any], answers: Mapping[str, Any]) -> dict[str, Any]:
    """``view`` as Slack sends it back on submit, with ``answers`` (block id → value) filled in.

    Every input block gets a state entry, empty ones too, as Slack sends them. A select or radio
    answer is an option value and must be one the view offers (so a test cannot pass by answering
    something the form never shows); checkboxes take a list of values; number and text boxes a
    string; a date-time picker a Unix time.
    """
    values: dict[str, Any] = {}
    unknown = set(answers)
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        block_id, element = block["block_id"], block["element"]
        kind, answer = element["type"], answers.get(block_id)
        unknown.discard(block_id)
        entry: dict[str, Any] = {"type": kind}
        if kind in {"static_select", "radio_buttons"}:
            entry["selected_option"] = None if answer is None else _offered(element, answer)
        elif kind == "checkboxes":
            entry["selected_options"] = [_offered(element, value) for value in answer or []]
        elif kind == "datetimepicker":
            entry["selected_date_time"] = answer
        else:
            entry["value"] = answer
        values[block_id] = {element["action_id"]: entry}
    assert not unknown, f"the view has no input blocks {sorted(unknown)}"
    return {**view, "id": "V0TESTVIEW", "hash": "1700000000.abc", "state": {"values": values}}


def _offered(element: Mapping[str, Any], value: str) -> dict[str, Any]:
    for option in element.get("options", []):
        if option["value"] == value:
            return dict(option)
    raise AssertionError(f"{value!r} is not an option of {element.get('action_id')}")
