"""The assessment text grammar (design §5): ``temp=39.2 o2=nc:4 ice=7`` → an :class:`Assessment`.

One grammar serves the slash command, channel messages, the console and the CLI. It is strict:
unknown or repeated keys, values out of range and units it cannot be sure of are errors that name
the field, the value and what is accepted; every value it reads is echoed back as an
interpretation, so a clinician sees exactly what was graded (102.6F → 39.22 °C). Only
:class:`GrammarError` ever leaves :func:`parse_assessment`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any, Final, NamedTuple

from grading.assessment import (
    TEMPERATURE_RANGE_C,
    Assessment,
    AttributableFinding,
    CerebralEdema,
    Consciousness,
    OxygenDevice,
    Seizure,
    assessment_from_mapping,
)
from grading.errors import FieldError, GrammarError, InputError
from grading.result import GradingResult, ToxicityGrade

MAX_TEXT_CHARS: Final = 4000
MAX_NOTE_CHARS: Final = 1000


@dataclass(frozen=True, slots=True)
class StatedGrades:
    """The grades the clinician states alongside an assessment (``stated=crs2,icans1``)."""

    crs: int | None = None
    icans: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedAssessment:
    """An assessment read from text, with everything else the line said.

    ``at`` is a time of day (to be placed on a date by the caller, in the case's time zone), a
    naive local date-time, or an aware date-time when an offset was given. ``note`` is free text:
    it is stored and shown, never logged.
    """

    assessment: Assessment
    interpretations: tuple[str, ...]
    stated: StatedGrades | None = None
    at: datetime | time | None = None
    note: str | None = None


# ---------------------------------------------------------------------------------------------
# Tokens


# Opening quote → closing quotes that end it (Slack turns straight quotes into curly ones).
_CLOSING: Final = {'"': '"', "“": "”", "„": "“”", "'": "'", "‘": "’"}
_KEY: Final = re.compile(r"[A-Za-z0-9_]+")


class _Pair(NamedTuple):
    key: str
    value: str


_KEY_AND_EQUALS: Final = re.compile(r"\s*([^\s=]*)(=?)")
_BARE_VALUE: Final = re.compile(r"\S*")
_STRAIGHT_QUOTED: Final = {
    quote: re.compile(quote + r"(.*?)" + quote + r"(?=\s|$)", re.DOTALL) for quote in "\"'"
}
# A curly opening quote → the quotes that open and close a nested pair inside it.
_CURLY: Final = {"“": ("“", "”"), "„": ("„", "“”"), "‘": ("‘", "’")}


_ANY_QUOTE: Final = re.compile("[\"'“”„‘’]")


def _tokens(text: str, errors: list[FieldError]) -> list[_Pair]:
    """Split ``key=value`` pairs; a value may be quoted with straight or (nested) curly quotes."""
    if _ANY_QUOTE.search(text) is None:
        return _plain_tokens(text, errors)
    pairs: list[_Pair] = []
    i, n = 0, len(text)
    while True:
        match = _KEY_AND_EQUALS.match(text, i)
        assert match is not None  # the pattern matches the empty string
        key, equals = match[1], match[2]
        i = match.end()
        if not key and not equals:  # only at the end: any other character starts a key
            return pairs
        if not equals:
            errors.append(_not_a_pair(key))
            continue
        opener = text[i] if i < n else ""
        if opener and opener in _STRAIGHT_QUOTED:
            quoted = _STRAIGHT_QUOTED[opener].match(text, i)
            end = quoted.end() if quoted else -1
            value = quoted[1] if quoted else ""
        elif opener and opener in _CURLY:
            end = _curly_end(text, i)
            value = text[i + 1 : end - 1]
        else:
            bare = _BARE_VALUE.match(text, i)
            assert bare is not None
            end, value = bare.end(), bare[0]
        if end < 0:
            errors.append(
                FieldError(
                    key,
                    text[i:],
                    "the quoted value is not closed",
                    f'a value in matching quotes, for example {key}="..."',
                )
            )
            return pairs
        pairs.append(_Pair(key, value))
        i = end


def _plain_tokens(text: str, errors: list[FieldError]) -> list[_Pair]:
    """The common case, a line with no quotes: whitespace separates the pairs."""
    pairs: list[_Pair] = []
    for token in text.split():
        key, equals, value = token.partition("=")
        if equals:
            pairs.append(_Pair(key, value))
        else:
            errors.append(_not_a_pair(key))
    return pairs


def _not_a_pair(token: str) -> FieldError:
    return FieldError(
        token,
        "",
        "expected field=value",
        "space-separated field=value pairs, for example temp=39.2 o2=nc:4 ice=7",
    )


def _curly_end(text: str, start: int) -> int:
    """Index just past the curly quote closing the one at ``start``; -1 if it never closes.

    Slack turns ``"rigors, "shaking" at 03:00"`` into curly quotes, so nested pairs balance;
    a closing quote not followed by a space or the end is an apostrophe (``wife’s``).
    """
    opens, closes = _CURLY[text[start]]
    depth = 0
    for j in range(start, len(text)):
        char = text[j]
        if char in closes and depth >= 1:
            if depth == 1 and j + 1 < len(text) and not text[j + 1].isspace():
                continue  # an apostrophe, or a quote run into the next word
            depth -= 1
            if depth == 0:
                return j + 1
        elif char in opens:
            depth += 1
    return -1


# ---------------------------------------------------------------------------------------------
# Values


class _Bad(Exception):
    """One value could not be read; turned into a FieldError naming the key."""

    def __init__(self, problem: str, accepted: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.accepted = accepted


_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]{1,6}(?:\.[0-9]{0,6})?|\.[0-9]{1,6})")
_YES: Final = frozenset({"yes", "y", "true"})
_NO: Final = frozenset({"no", "n", "false"})
_YES_NO: Final = "yes or no"


def _number(value: str, accepted: str, *, written: str | None = None) -> Decimal:
    """A plain decimal number (ASCII digits, at most 6 before and after the point)."""
    if "," in value and _NUMBER.fullmatch(value.replace(",", ".")):
        raise _Bad(
            "decimal commas are not read, to avoid misreading a value",
            accepted + " (use a point: " + (written or value).replace(",", ".") + ")",
        )
    if not _NUMBER.fullmatch(value):
        raise _Bad("not a number", accepted)
    return Decimal(value)


def _whole(value: str, low: int, high: int, accepted: str) -> int:
    if not re.fullmatch(r"[0-9]{1,6}", value):
        raise _Bad("not a whole number", accepted)
    number = int(value)
    if not low <= number <= high:
        raise _Bad(f"outside {low}-{high}", accepted)
    return number


def _yes_no(value: str) -> bool:
    word = value.lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise _Bad("not yes or no", _YES_NO)


def _choice(value: str, choices: dict[str, Any], accepted: str) -> Any:
    try:
        return choices[value.lower()]
    except KeyError:
        raise _Bad("not one of the accepted values", accepted) from None


def _show(number: Decimal) -> str:
    return format(number.normalize(), "f")


_TEMP: Final = re.compile(r"(?P<n>[^°a-zA-Z]+)\s*°?\s*(?P<unit>[cCfF])?")
_F_PLAUSIBLE: Final = (Decimal(86), Decimal(113))
_C_LOW, _C_HIGH = (Decimal(str(v)) for v in TEMPERATURE_RANGE_C)
_TEMP_ACCEPTS: Final = (
    "a temperature of 30-45 °C (temp=38.4 or temp=38.4C) or 86-113 °F (temp=101.2F)"
)


def _temperature(value: str, out: dict[str, Any], said: list[str]) -> None:
    match = _TEMP.fullmatch(value.strip())
    if not match:
        raise _Bad("not a temperature", _TEMP_ACCEPTS)
    number = _number(match["n"].strip(), _TEMP_ACCEPTS, written=value)
    unit = (match["unit"] or "").upper()
    if unit == "F":
        # Truncated, not rounded: 100.399 °F must stay below 38.0 °C (R-CRS-1).
        celsius = ((number - 32) * 5 / 9).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        if not _C_LOW <= celsius <= _C_HIGH:
            raise _Bad(
                f"{_show(number)} °F is {_show(celsius)} °C, outside 30-45 °C", _TEMP_ACCEPTS
            )
        said.append(f"temp={value} → {_show(celsius)} °C (converted from {_show(number)} °F)")
    else:
        if not _C_LOW <= number <= _C_HIGH:
            looks_f = not unit and _F_PLAUSIBLE[0] <= number <= _F_PLAUSIBLE[1]
            hint = f"; if that is Fahrenheit, write temp={_show(number)}F" if looks_f else ""
            raise _Bad(f"outside 30-45 °C{hint}", _TEMP_ACCEPTS)
        celsius = number
        how = "°C as written" if unit else "no unit given, read as °C"
        said.append(f"temp={value} → {_show(celsius)} °C ({how})")
    out["temperature_c"] = float(celsius)


def _bp(value: str, out: dict[str, Any], said: list[str]) -> None:
    word = value.lower()
    if word == "low":
        out["hypotension"] = True
        said.append(
            "bp=low → hypotension (with no vasopressor or vasopressin unless pressors= "
            "or vasopressin= says so)"
        )
    elif word == "normal":
        out["hypotension"] = False
        said.append("bp=normal → no hypotension")
    else:
        raise _Bad(
            "blood pressure is recorded by the support it needs, not a number (R-CRS-7)",
            "bp=low (hypotension without pressors) or bp=normal; pressors=N for vasopressors",
        )


def _pressors(value: str, out: dict[str, Any], said: list[str]) -> None:
    count = _whole(
        value,
        0,
        10,
        "the number of vasopressors other than vasopressin, 0-10 "
        "(vasopressin=yes records vasopressin)",
    )
    out["vasopressors"] = count
    said.append(
        f"pressors={value} → {count} vasopressor{'s' if count != 1 else ''} "
        "(not counting vasopressin)"
    )


_DEVICES: Final = {
    "ra": OxygenDevice.ROOM_AIR,
    "nc": OxygenDevice.NASAL_CANNULA,
    "hfnc": OxygenDevice.HIGH_FLOW_NASAL_CANNULA,
    "blowby": OxygenDevice.BLOW_BY,
    "mask": OxygenDevice.FACE_MASK,
    "nrb": OxygenDevice.NONREBREATHER,
    "venturi": OxygenDevice.VENTURI,
    "cpap": OxygenDevice.CPAP,
    "bipap": OxygenDevice.BIPAP,
    "vent": OxygenDevice.MECHANICAL_VENTILATION,
}
_NO_FLOW: Final = frozenset({"ra", "cpap", "bipap", "vent"})
_O2_ACCEPTS: Final = (
    "ra, nc:L, hfnc:L, blowby, mask, nrb, venturi, cpap, bipap or vent, "
    "with L the flow in L/min from 0 to 80 (o2=nc:4)"
)
_FLOW: Final = re.compile(r"(?P<n>[^a-zA-Z/]+)\s*(?:l|l/min|lpm)?", re.IGNORECASE)


def _oxygen(value: str, out: dict[str, Any], said: list[str]) -> None:
    name, _, flow_text = value.partition(":")
    device = _choice(name, _DEVICES, _O2_ACCEPTS)
    device_value = str(device)  # StrEnum: its value, without Enum's slow .value descriptor
    oxygen: dict[str, Any] = {"device": device_value}
    words = device_value.replace("_", " ")
    if ":" in value:
        if name.lower() in _NO_FLOW:
            raise _Bad(f"{name} takes no flow", _O2_ACCEPTS)
        match = _FLOW.fullmatch(flow_text.strip())
        if not match:
            raise _Bad("the flow is not a number of L/min", _O2_ACCEPTS)
        flow = _number(match["n"].strip(), _O2_ACCEPTS, written=value)
        if not Decimal(0) <= flow <= Decimal(80):
            raise _Bad("flow outside 0-80 L/min", _O2_ACCEPTS)
        if flow == 0:
            raise _Bad("a flow of 0 L/min gives no oxygen", "o2=ra for room air, or a flow above 0")
        oxygen["flow_l_min"] = float(flow)
        said.append(f"o2={value} → {words} at {_show(flow)} L/min")
    else:
        flow_note = (
            ", flow not given"
            if device in (OxygenDevice.NASAL_CANNULA, OxygenDevice.HIGH_FLOW_NASAL_CANNULA)
            else ""
        )
        said.append(f"o2={value} → {words}{flow_note}")
    out["oxygen"] = oxygen


_ICE_ITEMS: Final = (
    ("orientation", 4),
    ("naming", 3),
    ("commands", 1),
    ("writing", 1),
    ("attention", 1),
)
_ICE_ACCEPTS: Final = (
    "a whole number 0-10 (ice=7), or the five items orientation+naming+"
    "commands+writing+attention (ice=4+3+1+0+1, maxima 4, 3, 1, 1, 1)"
)


def _ice(value: str, out: dict[str, Any], said: list[str]) -> None:
    if "+" not in value:
        out["ice"] = _whole(value, 0, 10, _ICE_ACCEPTS)
        said.append(f"ice={value} → ICE {out['ice']}/10")
        return
    parts = value.split("+")
    if len(parts) != len(_ICE_ITEMS):
        raise _Bad(f"{len(parts)} items given, ICE has 5", _ICE_ACCEPTS)
    items = {
        name: _whole(part, 0, top, _ICE_ACCEPTS)
        for part, (name, top) in zip(parts, _ICE_ITEMS, strict=True)
    }
    out["ice_items"] = items
    total = sum(items.values())
    said.append(
        f"ice={value} → ICE {total}/10 ("
        + ", ".join(f"{name} {items[name]}/{top}" for name, top in _ICE_ITEMS)
        + ")"
    )


def _score(
    field: str, key: str, top: int, label: str
) -> Callable[[str, dict[str, Any], list[str]], None]:
    def read(value: str, out: dict[str, Any], said: list[str]) -> None:
        out[field] = _whole(value, 0, top, f"a whole number 0-{top}")
        said.append(f"{key}={value} → {label} {out[field]}/{top}")

    return read


_LOC: Final = {
    "alert": Consciousness.ALERT,
    "spontaneous": Consciousness.AWAKENS_SPONTANEOUSLY,
    "voice": Consciousness.AWAKENS_TO_VOICE,
    "touch": Consciousness.AWAKENS_TO_TACTILE,
    "tactile": Consciousness.AWAKENS_TO_TACTILE,
    "unarousable": Consciousness.UNAROUSABLE,
}
_SEIZURES: Final = {
    "none": Seizure.NONE,
    "brief": Seizure.RAPID_RESOLUTION,
    "prolonged": Seizure.PROLONGED_OR_REPETITIVE,
}
_EDEMAS: Final = {
    "none": CerebralEdema.NONE,
    "focal": CerebralEdema.FOCAL,
    "diffuse": CerebralEdema.DIFFUSE,
}
_MOTOR: Final = {"none": False, "weakness": True}


def _enum(
    field: str, key: str, choices: dict[str, Any]
) -> Callable[[str, dict[str, Any], list[str]], None]:
    accepted = ", ".join(choices)
    label = field.replace("_", " ")
    # Word typed → (value for the model, how it is echoed); built once, not per message.
    table = {
        word: (
            (chosen.value, chosen.value.replace("_", " "))
            if isinstance(chosen, StrEnum)
            else (chosen, "present" if chosen else "absent")
        )
        for word, chosen in choices.items()
    }

    def read(value: str, out: dict[str, Any], said: list[str]) -> None:
        model_value, shown = _choice(value, table, accepted)
        out[field] = model_value
        said.append(f"{key}={value} → {label}: {shown}")

    return read


def _flag(field: str, key: str, words: str) -> Callable[[str, dict[str, Any], list[str]], None]:
    def read(value: str, out: dict[str, Any], said: list[str]) -> None:
        out[field] = _yes_no(value)
        said.append(f"{key}={value} → {words}: {'yes' if out[field] else 'no'}")

    return read


_SIGNS_NONE: Final = {
    "seizure": Seizure.NONE.value,
    "motor_weakness": False,
    "cerebral_edema": CerebralEdema.NONE.value,
    "papilledema": False,
    "cn6_palsy": False,
    "posturing": False,
    "cushings_triad": False,
}


def _signs(value: str, out: dict[str, Any], said: list[str]) -> None:
    if value.lower() != "none":
        raise _Bad(
            "signs= only records that there are none",
            "signs=none; record a finding "
            "with seizure=, motor=, edema=, papilledema=, cn6=, posturing=, cushing=",
        )
    out.update(_SIGNS_NONE)
    said.append(
        "signs=none → no seizure, no motor weakness, no cerebral edema, no papilledema, "
        "no CN VI palsy, no posturing, no Cushing's triad"
    )


_EXCLUDE_ACCEPTS: Final = (
    "a comma list of "
    + ", ".join(f.value for f in AttributableFinding)
    + " (exclude=hypotension,consciousness)"
)


def _exclude(value: str, out: dict[str, Any], said: list[str]) -> None:
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if not names:
        raise _Bad("nothing to exclude", _EXCLUDE_ACCEPTS)
    aliases = {"loc": "consciousness", "motor_weakness": "motor", "cerebral_edema": "edema"}
    chosen: list[str] = []
    for given in names:
        name = aliases.get(given, given)
        if name not in AttributableFinding.__members__.values():
            raise _Bad(f"{name!r} cannot be attributed to another cause here", _EXCLUDE_ACCEPTS)
        chosen.append(name)
    out["attributed_elsewhere"] = sorted(set(chosen))
    said.append(
        f"exclude={value} → attributed to another cause, not graded: "
        + ", ".join(out["attributed_elsewhere"])
    )


_KG_PER_LB: Final = Decimal("0.45359237")
_WEIGHT: Final = re.compile(r"(?P<n>[^a-zA-Z]+)\s*(?P<unit>kg|lb|lbs)?", re.IGNORECASE)
_WEIGHT_ACCEPTS: Final = "a weight in kg above 0 up to 350 (weight=70 or weight=70kg; 154lb)"


def _weight(value: str, out: dict[str, Any], said: list[str]) -> None:
    match = _WEIGHT.fullmatch(value.strip())
    if not match:
        raise _Bad("not a weight", _WEIGHT_ACCEPTS)
    number = _number(match["n"].strip(), _WEIGHT_ACCEPTS, written=value)
    unit = (match["unit"] or "").lower()
    kg = (number * _KG_PER_LB).quantize(Decimal("0.1")) if unit.startswith("lb") else number
    if not Decimal(0) < kg <= Decimal(350):
        raise _Bad("outside 0-350 kg", _WEIGHT_ACCEPTS)
    out["weight_kg"] = float(kg)
    how = (
        f"converted from {_show(number)} lb"
        if unit.startswith("lb")
        else "kg as written"
        if unit
        else "no unit given, read as kg"
    )
    said.append(f"weight={value} → {_show(kg)} kg ({how})")


def _decimal_field(
    field: str, key: str, low: int, high: int, unit: str
) -> Callable[[str, dict[str, Any], list[str]], None]:
    accepted = f"a number from {low} to {high} ({unit})"

    def read(value: str, out: dict[str, Any], said: list[str]) -> None:
        number = _number(value, accepted)
        if not Decimal(low) <= number <= Decimal(high):
            raise _Bad(f"outside {low}-{high}", accepted)
        out[field] = float(number)
        said.append(f"{key}={value} → {field.replace('_', ' ')} {_show(number)} ({unit})")

    return read


_Reader = Callable[[str, dict[str, Any], list[str]], None]

_READERS: Final[dict[str, _Reader]] = {
    "temp": _temperature,
    "bp": _bp,
    "pressors": _pressors,
    "vasopressin": _flag("vasopressin", "vasopressin", "vasopressin"),
    "o2": _oxygen,
    "ice": _ice,
    "capd": _score("capd", "capd", 32, "CAPD"),
    "baseline_capd": _score("baseline_capd", "baseline_capd", 32, "baseline CAPD"),
    "loc": _enum("consciousness", "loc", _LOC),
    "aphasia": _flag("global_aphasia", "aphasia", "global aphasia"),
    "seizure": _enum("seizure", "seizure", _SEIZURES),
    "motor": _enum("motor_weakness", "motor", _MOTOR),
    "edema": _enum("cerebral_edema", "edema", _EDEMAS),
    "papilledema": _flag("papilledema", "papilledema", "papilledema"),
    "cn6": _flag("cn6_palsy", "cn6", "cranial nerve VI palsy"),
    "posturing": _flag("posturing", "posturing", "posturing"),
    "cushing": _flag("cushings_triad", "cushing", "Cushing's triad"),
    "signs": _signs,
    "tremor": _flag("tremor_or_myoclonus", "tremor", "tremor or myoclonus (not graded)"),
    "ich": _flag("intracranial_hemorrhage", "ich", "intracranial hemorrhage (not graded)"),
    "treated": _flag(
        "prior_crs_treatment",
        "treated",
        "antipyretic or anti-cytokine therapy given after CRS onset",
    ),
    "exclude": _exclude,
    "age": _decimal_field("age_years", "age", 0, 120, "years"),
    "weight": _weight,
    "dd": _flag("developmental_delay", "dd", "developmental delay"),
    "day": _decimal_field("days_since_infusion", "day", 0, 3650, "days after infusion"),
}
_OTHER_KEYS: Final = ("stated", "at", "note")
ACCEPTED_KEYS: Final = tuple(_READERS) + _OTHER_KEYS

# Keys people reach for that the grammar refuses on purpose, with what to write instead.
_REFUSED: Final = {
    "sbp": "hypotension is graded by the treatment it needs, not a number (R-CRS-7): use bp=low "
    "or pressors=N",
    "dbp": "hypotension is graded by the treatment it needs, not a number (R-CRS-7): use bp=low "
    "or pressors=N",
    "map": "hypotension is graded by the treatment it needs, not a number (R-CRS-7): use bp=low "
    "or pressors=N",
    "spo2": "hypoxia is graded by the oxygen support needed to correct it (R-CRS-4, R-CRS-8): use "
    "o2=",
    "sat": "hypoxia is graded by the oxygen support needed to correct it (R-CRS-4, R-CRS-8): use "
    "o2=",
    "fio2": "ASTCT grades oxygen by device and flow, not FiO2 (R-CRS-4): use o2=",
    "organ": "organ toxicities are graded with CTCAE and never change the CRS grade (R-CRS-6); "
    "record labs with /tox labs",
    "grade": "grades are computed; state yours with stated=crs2,icans1 to have a mismatch flagged",
    "crs": "grades are computed; state yours with stated=crs2,icans1 to have a mismatch flagged",
    "icans": "grades are computed; state yours with stated=crs2,icans1 to have a mismatch flagged",
}

# Words people use for a field, for "did you mean" (the grammar itself stays strict).
_SYNONYMS: Final = {
    "temperature": "temp",
    "t": "temp",
    "oxygen": "o2",
    "spo": "o2",
    "consciousness": "loc",
    "pressor": "pressors",
    "vasopressors": "pressors",
    "hypotension": "bp",
    "bloodpressure": "bp",
    "seizures": "seizure",
    "weakness": "motor",
    "cerebral_edema": "edema",
    "cushings": "cushing",
    "myoclonus": "tremor",
    "hemorrhage": "ich",
    "exclusion": "exclude",
}

# Model field → grammar key, so a cross-field error names what the user typed.
_KEY_FOR_FIELD: Final = {
    "temperature_c": "temp",
    "hypotension": "bp",
    "vasopressors": "pressors",
    "oxygen": "o2",
    "oxygen.flow_l_min": "o2",
    "oxygen.device": "o2",
    "ice_items": "ice",
    "consciousness": "loc",
    "global_aphasia": "aphasia",
    "motor_weakness": "motor",
    "cerebral_edema": "edema",
    "cn6_palsy": "cn6",
    "cushings_triad": "cushing",
    "tremor_or_myoclonus": "tremor",
    "intracranial_hemorrhage": "ich",
    "prior_crs_treatment": "treated",
    "attributed_elsewhere": "exclude",
    "age_years": "age",
    "weight_kg": "weight",
    "developmental_delay": "dd",
    "days_since_infusion": "day",
}


# ---------------------------------------------------------------------------------------------
# stated=, at=, note=

_STATED: Final = re.compile(r"(crs|icans)([0-4])")
_STATED_ACCEPTS: Final = "stated=crs2, stated=icans1 or stated=crs2,icans1 (grades 0-4)"


def _stated(value: str) -> StatedGrades:
    grades: dict[str, int] = {}
    for part in value.lower().split(","):
        match = _STATED.fullmatch(part.strip())
        if not match:
            raise _Bad(f"{part.strip()!r} is not a stated grade", _STATED_ACCEPTS)
        if match[1] in grades:
            raise _Bad(f"{match[1]} stated twice", _STATED_ACCEPTS)
        grades[match[1]] = int(match[2])
    return StatedGrades(crs=grades.get("crs"), icans=grades.get("icans"))


_CLOCK: Final = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_AT_ACCEPTS: Final = (
    "a time of day HH:MM (at=14:30, local time) or an ISO date-time "
    "(at=2026-11-23T14:30, or with an offset: at=2026-11-23T14:30+01:00)"
)


def _at(value: str) -> datetime | time:
    clock = _CLOCK.fullmatch(value)
    if clock:
        return time(int(clock[1]), int(clock[2]))
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", value
    ):
        raise _Bad("not a time", _AT_ACCEPTS)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise _Bad("not a valid date or time", _AT_ACCEPTS) from None


# ---------------------------------------------------------------------------------------------
# The parser


def parse_assessment(text: str) -> ParsedAssessment:
    """Read an assessment line such as ``temp=102.6F bp=low o2=nc:4 ice=7 loc=alert``.

    Raises :class:`GrammarError` listing every problem: unknown or repeated keys, bad values,
    out-of-range or implausible values, contradictions. Nothing else escapes.
    """
    errors: list[FieldError] = []
    if len(text) > MAX_TEXT_CHARS:
        raise GrammarError(
            [
                FieldError(
                    "text",
                    f"{len(text)} characters",
                    "too long",
                    f"at most {MAX_TEXT_CHARS} characters",
                )
            ]
        )
    pairs = _tokens(text, errors)
    fields: dict[str, Any] = {}
    said: list[str] = []
    stated: StatedGrades | None = None
    at: datetime | time | None = None
    note: str | None = None
    seen: set[str] = set()
    for pair in pairs:
        key = pair.key.lower()
        if key in seen:
            errors.append(
                FieldError(
                    pair.key, pair.value, "given more than once", "each field once per assessment"
                )
            )
            continue
        seen.add(key)
        try:
            if key in _READERS:
                _READERS[key](pair.value, fields, said)
            elif key == "stated":
                stated = _stated(pair.value)
                said.append(f"stated={pair.value} → your grades: " + _stated_words(stated))
            elif key == "at":
                at = _at(pair.value)
                said.append(
                    f"at={pair.value} → assessed at {at.isoformat()}"
                    + ("" if isinstance(at, datetime) and at.tzinfo else " local time")
                )
            elif key == "note":
                if len(pair.value) > MAX_NOTE_CHARS:
                    raise _Bad(
                        f"{len(pair.value)} characters",
                        f"a note of at most {MAX_NOTE_CHARS} characters",
                    )
                note = pair.value
                said.append(f"note recorded ({len(note)} character{'s' * (len(note) != 1)})")
            else:
                errors.append(_unknown_key(pair))
        except _Bad as bad:
            errors.append(FieldError(pair.key, pair.value, bad.problem, bad.accepted))
    if fields.get("hypotension") is True:
        # Design §5: bp=low is hypotension without pressors, unless pressors= or vasopressin= say.
        fields.setdefault("vasopressors", 0)
        fields.setdefault("vasopressin", False)
    if "signs" in seen:
        errors.extend(_signs_conflicts(seen))
    errors.extend(_pressors_without_hypotension(fields))
    try:
        assessment = assessment_from_mapping(fields)
    except InputError as exc:
        # Checked even when values were refused above, so every problem is reported at once.
        errors.extend(
            FieldError(_KEY_FOR_FIELD.get(e.field, e.field), e.value, e.problem, e.accepted)
            for e in exc.errors
        )
    if errors:
        raise GrammarError(errors)
    return ParsedAssessment(assessment, tuple(said), stated, at, note)


def _pressors_without_hypotension(fields: dict[str, Any]) -> list[FieldError]:
    """``bp=normal`` with vasopressors is a contradiction; say so in the grammar's words."""
    pressors = fields.get("vasopressors") or 0
    if fields.get("hypotension") is not False or not (pressors or fields.get("vasopressin")):
        return []
    del fields["hypotension"]  # reported here, in the user's terms, not again by the model
    given = f"pressors={pressors}" if pressors else "vasopressin=yes"
    return [
        FieldError(
            "bp",
            "normal",
            f"{given} is also given, and vasopressors mean hypotension that needs them (R-CRS-7)",
            "bp=low with pressors=N, or bp=normal with no vasopressors",
        )
    ]


def _stated_words(stated: StatedGrades) -> str:
    parts = [f"CRS {stated.crs}"] if stated.crs is not None else []
    parts += [f"ICANS {stated.icans}"] if stated.icans is not None else []
    return ", ".join(parts)


def _unknown_key(pair: _Pair) -> FieldError:
    key = pair.key.lower()
    if key in _REFUSED:
        return FieldError(pair.key, pair.value, _REFUSED[key], ", ".join(ACCEPTED_KEYS))
    if not _KEY.fullmatch(pair.key):
        return FieldError(pair.key, pair.value, "not a field name", ", ".join(ACCEPTED_KEYS))
    close = _SYNONYMS.get(key) or next(
        iter(difflib.get_close_matches(key, ACCEPTED_KEYS, n=1, cutoff=0.6)), None
    )
    problem = "unknown field" + (f" (did you mean {close}=?)" if close else "")
    return FieldError(pair.key, pair.value, problem, ", ".join(ACCEPTED_KEYS))


def _signs_conflicts(seen: set[str]) -> list[FieldError]:
    """``signs=none`` cannot stand with a sign given separately: which one is meant?"""
    sign_keys = ("seizure", "motor", "edema", "papilledema", "cn6", "posturing", "cushing")
    return [
        FieldError(
            "signs", "none", f"{key}= is also given", "signs=none alone, or each sign on its own"
        )
        for key in sign_keys
        if key in seen
    ]


# ---------------------------------------------------------------------------------------------
# Stated grades against computed ones


def stated_mismatches(result: GradingResult, stated: StatedGrades | None) -> tuple[str, ...]:
    """Flag where the clinician's stated grade differs from the computed one."""
    if stated is None:
        return ()
    out: list[str] = []
    for name, given, computed in (
        ("CRS", stated.crs, result.crs),
        ("ICANS", stated.icans, result.icans),
    ):
        if given is None:
            continue
        message = _mismatch(name, given, computed)
        if message:
            out.append(message)
    return tuple(out)


def _mismatch(name: str, given: int, computed: ToxicityGrade) -> str | None:
    if computed.grade is not None:
        if computed.grade == given:
            return None
        return (
            f"Stated {name} grade {given} differs from the computed {name} grade "
            f"{computed.grade} ({computed.summary}). Please review."
        )
    if computed.range is not None:
        low, high = computed.range
        where = "within" if low <= given <= high else "outside"
        return (
            f"Stated {name} grade {given} is {where} the computed range {low}-{high}; "
            f"the recorded data do not decide the grade. {computed.question}"
        )
    return (
        f"Stated {name} grade {given}, but {name} is not assessable from the recorded data "
        f"({computed.summary})."
    )
