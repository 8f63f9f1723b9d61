"""The assessment form: every design §4 input as a modal, read through the text grammar.

* **Empty is not assessed.** Every field is optional and starts empty; selects offer "Not
  assessed" because Slack cannot clear a chosen option. Nothing empty is ever sent as 0, no, or
  normal (clinical reference D10). ICE is entered item by item, all five or none.
* **One parser.** A submission is read by writing the same ``field=value`` line a nurse would type
  (``temp=39.2C bp=low ice=4+3+1+0+1``) and handing it to
  :func:`grading.grammar.parse_assessment`, so the form accepts nothing ``/tox assess`` would
  refuse and every interpretation is echoed the same way. Each grammar error goes back to the
  block holding its field, so Slack shows it inline.
* **No guessed units.** A temperature needs its unit chosen (or written: ``102.6F``).
* **Nothing injected.** Only option values the form offers and number boxes holding one value
  without quotes reach the grammar line; the free-text note is attached after parsing, so no
  note can add or hide a field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from bot.replies import FormKind
from grading.assessment import AttributableFinding
from grading.errors import FieldError, GrammarError
from grading.grammar import MAX_NOTE_CHARS, ParsedAssessment, parse_assessment
from handlers.blocks import escape_mrkdwn
from handlers.form_parts import (
    UNSET,
    FormErrors,
    SubmittedValues,
    datetime_box,
    form_case,
    header,
    input_block,
    intro,
    modal,
    number_box,
    option,
    plain,
)

_QUOTES_OR_EQUALS: Final = re.compile("[\"'“”„‘’=]")


@dataclass(frozen=True, slots=True)
class _Select:
    """One select: its block, the grammar key it writes, and (label, grammar value) choices."""

    block_id: str
    key: str
    label: str
    choices: tuple[tuple[str, str], ...]
    hint: str | None = None
    unset_label: str = "Not assessed"

    def block(self) -> dict[str, Any]:
        options = [option(self.unset_label, UNSET)]
        options += [option(label, value) for label, value in self.choices]
        element = {
            "type": "static_select",
            "placeholder": plain(self.unset_label),
            "options": options,
        }
        return input_block(self.block_id, self.label, element, hint=self.hint, optional=True)


_YES_NO: Final = (("No", "no"), ("Yes", "yes"))


def _yes_no(block_id: str, key: str, label: str, hint: str | None = None) -> _Select:
    return _Select(block_id, key, label, _YES_NO, hint)


def _scores(top: int) -> tuple[tuple[str, str], ...]:
    return tuple((str(n), str(n)) for n in range(top + 1))


TEMPERATURE: Final = "temp"
TEMPERATURE_UNIT: Final = "temp_unit"
OXYGEN_DEVICE: Final = "o2_device"
OXYGEN_FLOW: Final = "o2_flow"
CAPD: Final = "capd"
SIGNS_NONE: Final = "signs"
EXCLUDE: Final = "exclude"
STATED_CRS: Final = "stated_crs"
STATED_ICANS: Final = "stated_icans"
ASSESSED_AT: Final = "at"
NOTE: Final = "note"

_BP: Final = _Select(
    "bp",
    "bp",
    "Blood pressure",
    (("Normal: no hypotension", "normal"), ("Low: hypotension", "low")),
    "Low with no vasopressor below means hypotension treated with fluids alone.",
)
_PRESSORS: Final = _Select(
    "pressors",
    "pressors",
    "Vasopressors running (not counting vasopressin)",
    _scores(10),
)
_VASOPRESSIN: Final = _yes_no("vasopressin", "vasopressin", "Vasopressin running")
_DEVICE: Final = _Select(
    OXYGEN_DEVICE,
    "o2",
    "Oxygen support",
    (
        ("Room air", "ra"),
        ("Nasal cannula", "nc"),
        ("High-flow nasal cannula", "hfnc"),
        ("Blow-by", "blowby"),
        ("Face mask", "mask"),
        ("Non-rebreather mask", "nrb"),
        ("Venturi mask", "venturi"),
        ("CPAP", "cpap"),
        ("BiPAP", "bipap"),
        ("Mechanical ventilation", "vent"),
    ),
)
_TREATED: Final = _yes_no(
    "treated",
    "treated",
    "Antipyretic or anti-cytokine therapy since CRS onset",
    "Yes means fever is no longer required for CRS grading (ASTCT 2019).",
)
ICE_ITEMS: Final = (
    _Select("ice_orientation", "ice", "ICE: orientation (0-4)", _scores(4)),
    _Select("ice_naming", "ice", "ICE: naming 3 objects (0-3)", _scores(3)),
    _Select("ice_commands", "ice", "ICE: following commands (0-1)", _scores(1)),
    _Select("ice_writing", "ice", "ICE: writing a sentence (0-1)", _scores(1)),
    _Select("ice_attention", "ice", "ICE: counting back from 100 by 10 (0-1)", _scores(1)),
)
_LOC: Final = _Select(
    "loc",
    "loc",
    "Level of consciousness",
    (
        ("Alert", "alert"),
        ("Awakens spontaneously", "spontaneous"),
        ("Awakens to voice", "voice"),
        ("Awakens only to tactile stimulus", "touch"),
        ("Unarousable, or needs vigorous or repetitive stimuli", "unarousable"),
    ),
)
_ICANS_SELECTS: Final = (
    _LOC,
    _yes_no("aphasia", "aphasia", "Global aphasia"),
    _Select(
        "seizure",
        "seizure",
        "Seizure",
        (
            ("None", "none"),
            ("Resolved rapidly, or non-convulsive on EEG resolving with intervention", "brief"),
            ("Prolonged (>5 min) or repetitive without return to baseline", "prolonged"),
        ),
    ),
    _Select("motor", "motor", "Motor weakness", (("None", "none"), ("Weakness", "weakness"))),
    _Select(
        "edema",
        "edema",
        "Cerebral edema on neuroimaging",
        (("None", "none"), ("Focal or local", "focal"), ("Diffuse", "diffuse")),
    ),
    _yes_no("papilledema", "papilledema", "Papilledema"),
    _yes_no("cn6", "cn6", "Cranial nerve VI palsy"),
    _yes_no("posturing", "posturing", "Decerebrate or decorticate posturing"),
    _yes_no("cushing", "cushing", "Cushing's triad"),
)
_RECORDED_SELECTS: Final = (
    _yes_no("tremor", "tremor", "Tremor or myoclonus", "Recorded and shown, not graded."),
    _yes_no("ich", "ich", "Intracranial hemorrhage", "Recorded and shown, not graded."),
)
_STATED: Final = (
    _Select(STATED_CRS, "stated", "Your CRS grade", _scores(4), unset_label="Not stated"),
    _Select(STATED_ICANS, "stated", "Your ICANS grade", _scores(4), unset_label="Not stated"),
)
_CRS_SELECTS: Final = (_BP, _PRESSORS, _VASOPRESSIN)
_EXCLUSION_LABELS: Final = {
    AttributableFinding.FEVER: "Fever",
    AttributableFinding.HYPOTENSION: "Hypotension",
    AttributableFinding.HYPOXIA: "Hypoxia",
    AttributableFinding.ICE: "ICE score",
    AttributableFinding.CAPD: "CAPD score",
    AttributableFinding.CONSCIOUSNESS: "Level of consciousness",
    AttributableFinding.SEIZURE: "Seizure",
    AttributableFinding.MOTOR: "Motor weakness",
    AttributableFinding.EDEMA: "Cerebral edema",
}
_SIGNS_NONE_VALUE: Final = "none"


def assessment_form(case_code: str) -> dict[str, Any]:
    """The assessment modal for ``case_code``: every design §4 input, all optional and empty."""
    blocks: list[dict[str, Any]] = [
        intro(
            f"Case *{escape_mrkdwn(case_code)}*. Fill in what you assessed and leave the rest: "
            "an empty field is recorded as not assessed, never as normal or 0."
        ),
        header("CRS"),
        number_box(TEMPERATURE, "Temperature", "The number; choose its unit below.", decimal=True),
        input_block(
            TEMPERATURE_UNIT,
            "Temperature unit",
            {
                "type": "radio_buttons",
                "options": [option("°C", "C"), option("°F", "F")],
            },
            hint="Needed with a temperature: the unit is never guessed.",
            optional=True,
        ),
        _BP.block(),
        _PRESSORS.block(),
        _VASOPRESSIN.block(),
        _DEVICE.block(),
        number_box(
            OXYGEN_FLOW,
            "Oxygen flow (L/min)",
            "For nasal cannula or high-flow nasal cannula.",
            decimal=True,
        ),
        _TREATED.block(),
        header("ICANS"),
        *(item.block() for item in ICE_ITEMS),
        number_box(
            CAPD,
            "CAPD total (0-32), instead of ICE",
            "For children under 12 or with developmental delay.",
            decimal=False,
        ),
        *(select.block() for select in _ICANS_SELECTS),
        input_block(
            SIGNS_NONE,
            "No other neurological signs",
            {
                "type": "checkboxes",
                "options": [
                    option(
                        "None of: seizure, weakness, edema, papilledema, CN VI, posturing, Cushing",
                        _SIGNS_NONE_VALUE,
                    )
                ],
            },
            hint="Records all seven as absent; leave it unticked if you give any of them above.",
            optional=True,
        ),
        *(select.block() for select in _RECORDED_SELECTS),
        header("Context"),
        input_block(
            EXCLUDE,
            "Attributable to another cause (not graded)",
            {
                "type": "checkboxes",
                "options": [
                    option(label, finding.value) for finding, label in _EXCLUSION_LABELS.items()
                ],
            },
            hint=None,
            optional=True,
        ),
        *(select.block() for select in _STATED),
        datetime_box(ASSESSED_AT, "Assessed at", "Leave empty for now."),
        input_block(
            NOTE,
            "Note",
            {"type": "plain_text_input", "multiline": True, "max_length": MAX_NOTE_CHARS},
            hint="Shown with the assessment. No names, MRNs or dates of birth.",
            optional=True,
        ),
    ]
    return modal(FormKind.ASSESSMENT, f"Assess {case_code}", case_code, blocks)


def read_assessment_form(view: Mapping[str, Any]) -> tuple[str, ParsedAssessment]:
    """The case code and the assessment a submitted assessment form holds.

    Raises :class:`FormErrors` with a message under each field that is wrong, in the grammar's
    words (the same checks as ``/tox assess``), or when nothing at all was entered.
    """
    case_code = form_case(view)
    values = SubmittedValues(view)
    pairs = _assessment_pairs(values)
    note = _note(values)
    if not values.errors and not any(key not in {"stated", "at"} for _, key, _ in pairs):
        raise FormErrors({TEMPERATURE: "Nothing was entered: record at least one finding."})
    line = " ".join(f"{key}={value}" for _, key, value in pairs)
    try:
        parsed = parse_assessment(line)
    except GrammarError as exc:
        # The values the form could read are checked too, so every problem shows at once; a
        # field's own error (unreadable, unit missing) stays first under it.
        grammar = _errors_by_block(exc.errors, pairs)
        raise FormErrors({**grammar, **values.errors}) from None
    if values.errors:
        raise FormErrors(values.errors)
    if note is not None:
        said = f"note recorded ({len(note)} character{'s' * (len(note) != 1)})"
        parsed = replace(parsed, note=note, interpretations=(*parsed.interpretations, said))
    return case_code, parsed


_Pair = tuple[str, str, str]  # (block id, grammar key, value)


def _assessment_pairs(values: SubmittedValues) -> list[_Pair]:
    """The grammar's ``key=value`` pairs for what was filled in, each with its block."""
    pairs: list[_Pair] = []
    temperature = _temperature(values)
    if temperature is not None:
        pairs.append((TEMPERATURE, "temp", temperature))
    for select in _CRS_SELECTS:
        pairs.extend(_chosen(values, select))
    oxygen = _oxygen(values)
    if oxygen is not None:
        pairs.append(oxygen)
    pairs.extend(_chosen(values, _TREATED))
    ice = _ice(values)
    if ice is not None:
        pairs.append((ICE_ITEMS[0].block_id, "ice", ice))
    capd = _one_value(values, CAPD)
    if capd is not None:
        pairs.append((CAPD, "capd", capd))
    for select in (*_ICANS_SELECTS, *_RECORDED_SELECTS):
        pairs.extend(_chosen(values, select))
    signs = values.ticked(SIGNS_NONE)
    if signs == [_SIGNS_NONE_VALUE]:
        pairs.append((SIGNS_NONE, "signs", "none"))
    elif signs:
        values.errors[SIGNS_NONE] = "Not one of the choices; open the form again."
    pairs.extend(_exclusions(values))
    stated = _stated(values)
    if stated is not None:
        pairs.append(stated)
    moment = values.moment(ASSESSED_AT)
    if moment is not None:
        pairs.append((ASSESSED_AT, "at", moment.isoformat(timespec="minutes")))
    return pairs


def _chosen(values: SubmittedValues, select: _Select) -> list[_Pair]:
    value = values.selected(select.block_id)
    if value is None:
        return []
    if value not in {choice for _, choice in select.choices}:
        values.errors[select.block_id] = "Not one of the choices; choose again."
        return []
    return [(select.block_id, select.key, value)]


def _one_value(values: SubmittedValues, block_id: str) -> str | None:
    """A number box's value as one grammar token: spaces dropped, no quotes or ``=``."""
    text = values.text(block_id)
    if text is None:
        return None
    token = "".join(text.split())
    if _QUOTES_OR_EQUALS.search(token):
        values.errors[block_id] = "Enter a number only, for example 39.2."
        return None
    return token


_WRITTEN_UNIT: Final = re.compile(r"(?P<number>.*?)°?(?P<unit>[cCfF])")


def _temperature(values: SubmittedValues) -> str | None:
    """``39.2C`` or ``102.6F``: the number with the unit chosen (or written), never assumed."""
    token = _one_value(values, TEMPERATURE)
    chosen = values.selected(TEMPERATURE_UNIT)
    if chosen not in {None, "C", "F"}:
        values.errors[TEMPERATURE_UNIT] = "Choose °C or °F."
        return None
    if token is None:
        return None
    written = _WRITTEN_UNIT.fullmatch(token)
    number = written["number"] if written else token
    unit = written["unit"].upper() if written else None
    if unit and chosen and unit != chosen:
        values.errors[TEMPERATURE] = f"The value says °{unit} but °{chosen} is chosen below."
        return None
    unit = unit or chosen
    if unit is None:
        values.errors[TEMPERATURE_UNIT] = (
            "Choose °C or °F for the temperature: it is never guessed."
        )
        return None
    return number + unit


def _oxygen(values: SubmittedValues) -> _Pair | None:
    device = values.selected(OXYGEN_DEVICE)
    flow = _one_value(values, OXYGEN_FLOW)
    if device is not None and device not in {choice for _, choice in _DEVICE.choices}:
        values.errors[OXYGEN_DEVICE] = "Not one of the choices; choose again."
        return None
    if device is None:
        if flow is not None:
            values.errors[OXYGEN_DEVICE] = "Choose the oxygen device this flow is given with."
        return None
    if flow is None:
        return (OXYGEN_DEVICE, "o2", device)
    return (OXYGEN_FLOW, "o2", f"{device}:{flow}")


def _ice(values: SubmittedValues) -> str | None:
    """``ice=4+3+1+0+1`` when all five items are given; some but not all is an error."""
    scores = [values.selected(item.block_id) for item in ICE_ITEMS]
    if all(score is None for score in scores):
        return None
    missing = [
        item.block_id for item, score in zip(ICE_ITEMS, scores, strict=True) if score is None
    ]
    for block_id in missing:
        values.errors[block_id] = "Give all five ICE items, or none: a missing item is never 0."
    for item, score in zip(ICE_ITEMS, scores, strict=True):
        if score is not None and score not in {choice for _, choice in item.choices}:
            values.errors[item.block_id] = "Not one of the choices; choose again."
    if missing:
        return None
    return "+".join(str(score) for score in scores)


def _exclusions(values: SubmittedValues) -> list[_Pair]:
    ticked = values.ticked(EXCLUDE)
    if not ticked:
        return []
    known = {finding.value for finding in AttributableFinding}
    if not set(ticked) <= known:
        values.errors[EXCLUDE] = "Not one of the choices; open the form again."
        return []
    return [(EXCLUDE, "exclude", ",".join(sorted(set(ticked))))]


def _stated(values: SubmittedValues) -> _Pair | None:
    grades = []
    for select, name in zip(_STATED, ("crs", "icans"), strict=True):
        for _, _, grade in _chosen(values, select):
            grades.append(f"{name}{grade}")
    if not grades:
        return None
    return (STATED_CRS, "stated", ",".join(grades))


def _note(values: SubmittedValues) -> str | None:
    """The note, attached after parsing so free text can never add a field to the line."""
    note = values.text(NOTE)
    if note is None:
        return None
    if len(note) > MAX_NOTE_CHARS:
        values.errors[NOTE] = f"{len(note)} characters; a note holds at most {MAX_NOTE_CHARS}."
        return None
    return note


def _errors_by_block(errors: Iterable[FieldError], pairs: list[_Pair]) -> dict[str, str]:
    """Each grammar error under the block that holds its field (the first field if unknown)."""
    block_for_key: dict[str, str] = {}
    for block_id, key, _ in pairs:
        block_for_key.setdefault(key, block_id)
    fallback = pairs[0][0] if pairs else TEMPERATURE
    out: dict[str, str] = {}
    for error in errors:
        block_id = block_for_key.get(error.field.lower(), fallback)
        message = f"{error.problem}. Accepted: {error.accepted}"
        out[block_id] = f"{out[block_id]} {message}" if block_id in out else message
    return out
