"""The institution's protocol: a YAML file validated by this schema (design §6).

It holds what a hospital may change: drug rules and limits, the steps offered per toxicity and
grade, product notes, the refractory definitions and windows, the escalation ladder, the
reassessment cadence and reminder escalation. Every step carries citations that must resolve to
a full reference in ``sources``. The grading rules themselves (ASTCT) are not here: they are not
the institution's to change.

Parsing is pure (text in, model out); reading the file is the application's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from difflib import SequenceMatcher
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grading.case import Drug
from grading.errors import FieldError, InputError

_Strict = ConfigDict(extra="forbid", frozen=True)

_Citation = Annotated[str, Field(min_length=1, max_length=80)]
_Citations = Annotated[tuple[_Citation, ...], Field(min_length=1)]
_Hours = Annotated[float, Field(gt=0, le=24 * 30)]


class ProtocolError(InputError):
    """A protocol file could not be used; each error names its path in the YAML."""


class Approval(BaseModel):
    """Who approved this protocol for clinical use, and when. Unapproved advice carries a banner."""

    model_config = _Strict

    approved: bool = False
    by: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    approved_on: date | None = None  # not "on": YAML 1.1 reads a bare `on:` key as true

    @model_validator(mode="after")
    def _approved_needs_who_and_when(self) -> Approval:
        if self.approved and (self.by is None or self.approved_on is None):
            raise ValueError(
                "an approved protocol names who approved it (by) and when (approved_on)"
            )
        return self


class WeightBand(BaseModel):
    """A weight-based dose for patients below a weight (tocilizumab 12 mg/kg under 30 kg)."""

    model_config = _Strict

    below_kg: Annotated[float, Field(gt=0, le=350)]
    mg_per_kg: Annotated[float, Field(gt=0, le=100)]


class TocilizumabRule(BaseModel):
    """Tocilizumab dose and limits (D17; clinical reference §3.1)."""

    model_config = _Strict

    mg_per_kg: Annotated[float, Field(gt=0, le=100)] = 8
    weight_bands: tuple[WeightBand, ...] = (WeightBand(below_kg=30, mg_per_kg=12),)
    max_dose_mg: Annotated[float, Field(gt=0, le=5000)] = 800
    min_interval_h: _Hours = 8
    max_doses_24h: Annotated[int, Field(ge=1, le=24)] = 3
    max_doses_total: Annotated[int, Field(ge=1, le=50)] = 4
    citation: _Citations = ("S12 p.6", "S17")


class SteroidRule(BaseModel):
    """Corticosteroid exposure as dexamethasone-equivalent mg, and the rapid-taper flag (D18)."""

    model_config = _Strict

    # mg of each drug equal to 1 mg of dexamethasone.
    dexamethasone_equivalent_mg: Mapping[Drug, Annotated[float, Field(gt=0, le=1000)]] = {
        Drug.DEXAMETHASONE: 1.0,
        Drug.METHYLPREDNISOLONE: 5.33,
        Drug.PREDNISONE: 6.67,
        Drug.HYDROCORTISONE: 26.7,
    }
    # Flag when the last 24 h carry less than this fraction of the 24 h before, with ICANS active.
    rapid_taper_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5
    citation: _Citations = ("S12 p.9",)


class Drugs(BaseModel):
    """Drug rules the engine computes with."""

    model_config = _Strict

    tocilizumab: TocilizumabRule = TocilizumabRule()
    corticosteroids: SteroidRule = SteroidRule()


class Toxicity(StrEnum):
    """Which toxicity a step or a definition is about."""

    CRS = "crs"
    ICANS = "icans"


class StepKind(StrEnum):
    """What kind of advice a step is; the reply groups them."""

    TREATMENT = "treatment"
    WORKUP = "workup"
    MONITORING = "monitoring"
    CONSULT = "consult"
    CAUTION = "caution"
    PRODUCT_NOTE = "product_note"
    DIFFERENTIAL = "differential"
    LADDER = "ladder"


_Grades = tuple[Annotated[int, Field(ge=0, le=4)], ...]


class When(BaseModel):
    """When a step applies. Every condition given must hold; none given means always."""

    model_config = _Strict

    crs_grades: _Grades | None = None
    icans_grades: _Grades | None = None
    concurrent_crs: bool | None = None  # CRS grade ≥1 at the same time
    products: tuple[Annotated[str, Field(min_length=1)], ...] | None = None
    refractory: Toxicity | Literal["any"] | None = None
    max_weight_kg: Annotated[float, Field(gt=0)] | None = None
    min_weight_kg: Annotated[float, Field(gt=0)] | None = None
    on_corticosteroids: bool | None = None  # corticosteroids given in this episode
    crs_min_hours_since_onset: _Hours | None = None  # e.g. grade 1 fever lasting over 3 days

    @field_validator("products")
    @classmethod
    def _lowercase(cls, products: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return tuple(p.lower() for p in products) if products is not None else None


class DoseSpec(BaseModel):
    """A dose the engine computes and shows with its arithmetic.

    Tocilizumab takes its dose and limits from ``drugs.tocilizumab``; other drugs give a fixed
    ``mg`` or ``mg_per_kg`` with an optional ``max_mg``.
    """

    model_config = _Strict

    drug: Drug
    mg: Annotated[float, Field(gt=0, le=20000)] | None = None
    mg_per_kg: Annotated[float, Field(gt=0, le=100)] | None = None
    max_mg: Annotated[float, Field(gt=0, le=20000)] | None = None
    schedule: Annotated[str, Field(min_length=1, max_length=160)]
    # Doses a day, so a corticosteroid rung knows its daily intensity (a ladder goes up, D16).
    doses_per_day: Annotated[float, Field(gt=0, le=24)] | None = None

    @model_validator(mode="after")
    def _one_way_to_dose(self) -> DoseSpec:
        if self.drug is Drug.TOCILIZUMAB:
            if self.mg is not None or self.mg_per_kg is not None:
                raise ValueError("tocilizumab's dose comes from drugs.tocilizumab; give no mg here")
        elif (self.mg is None) == (self.mg_per_kg is None):
            raise ValueError("give exactly one of mg or mg_per_kg")
        return self


# Words that make guidance an order rather than decision support (D19).
_IMPERATIVE: Final = re.compile(
    r"^\s*(give|start|administer|begin|order|stop|increase|administer|inject|infuse|must)\b",
    re.IGNORECASE,
)


class Step(BaseModel):
    """One piece of advice the protocol offers when its conditions hold."""

    model_config = _Strict

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")]
    toxicity: Toxicity
    kind: StepKind
    when: When = When()
    text: Annotated[str, Field(min_length=10, max_length=1500)]
    dose: DoseSpec | None = None
    citation: _Citations
    unverified: bool = False

    @field_validator("text")
    @classmethod
    def _decision_support_wording(cls, text: str) -> str:
        if _IMPERATIVE.match(text):
            raise ValueError(
                "guidance is decision support, not an order (D19): word it as "
                "'Consider, per protocol: ...'"
            )
        return text


class RefractoryCrs(BaseModel):
    """Refractory CRS (D14, protocol default)."""

    model_config = _Strict

    min_grade: Annotated[int, Field(ge=1, le=4)] = 2
    window_h: _Hours = 24  # after the first tocilizumab dose
    min_tocilizumab_doses: Annotated[int, Field(ge=1, le=10)] = 2
    requires_corticosteroids: bool = True
    citation: _Citations = ("TOXBOT-D D14", "S16", "S17")


class RefractoryIcans(BaseModel):
    """Refractory ICANS (D15, protocol default)."""

    model_config = _Strict

    min_grade: Annotated[int, Field(ge=1, le=4)] = 2
    window_h: _Hours = 24  # after corticosteroids started
    on_steroids_within_h: _Hours = 24  # a dose this recent means "on corticosteroids"
    citation: _Citations = ("TOXBOT-D D15", "S27")


class Refractory(BaseModel):
    """Refractory definitions and the clinician re-review times (D14-D16)."""

    model_config = _Strict

    crs: RefractoryCrs = RefractoryCrs()
    icans: RefractoryIcans = RefractoryIcans()
    review_after_h: tuple[_Hours, ...] = (12, 24)


class CadenceRow(BaseModel):
    """How often vitals with a CRS check and the neuro screen are due in one case state."""

    model_config = _Strict

    vitals_h: _Hours
    neuro_h: _Hours
    citation: _Citations


class Cadence(BaseModel):
    """Reassessment cadence (clinical reference §0.1)."""

    model_config = _Strict

    monitoring_days: Annotated[float, Field(gt=0, le=365)] = 14
    no_toxicity: CadenceRow
    grade_1: CadenceRow
    grade_3: CadenceRow
    refractory: CadenceRow
    first_icans_sign_neuro_min: Annotated[float, Field(gt=0, le=240)] = 30
    first_icans_sign_for_h: _Hours = 2


class Escalation(BaseModel):
    """Reminder escalation (clinical reference §0.1; used by reminders)."""

    model_config = _Strict

    repeat_and_charge_nurse_after_min: Annotated[float, Field(gt=0, le=240)] = 15
    on_call_channel_after_min: Annotated[float, Field(gt=0, le=480)] = 30
    overdue_after_min: Annotated[float, Field(gt=0, le=480)] = 30
    snooze_min: Annotated[float, Field(gt=0, le=240)] = 15
    max_snoozes: Annotated[int, Field(ge=0, le=10)] = 2


class IecHsScreen(BaseModel):
    """A lab screen for IEC-HS. Its criteria are not verified against Hines 2023 (§5.1)."""

    model_config = _Strict

    unverified: Literal[True] = True
    ferritin_uln_ng_ml: Annotated[float, Field(gt=0)] = 400
    ferritin_times_uln: Annotated[float, Field(gt=1)] = 2
    ferritin_rise_fraction_48h: Annotated[float, Field(gt=0)] = 1.0  # doubled within 48 h
    platelets_below: Annotated[float, Field(gt=0)] = 50  # 10^9/L
    anc_below: Annotated[float, Field(gt=0)] = 0.5  # 10^9/L
    alt_uln: Annotated[float, Field(gt=0)] = 40
    alt_times_uln: Annotated[float, Field(gt=1)] = 3
    fibrinogen_below_mg_dl: Annotated[float, Field(gt=0)] = 150
    ldh_uln: Annotated[float, Field(gt=0)] = 250
    triglycerides_above_mg_dl: Annotated[float, Field(gt=0)] = 265
    citation: _Citations = ("S36", "S43")


class Protocol(BaseModel):
    """An institution's CRS/ICANS protocol (design §6)."""

    model_config = _Strict

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")]
    version: Annotated[str, Field(min_length=1, max_length=40)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    effective: date
    approval: Approval = Approval()
    sources: Mapping[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+$")], str]
    drugs: Drugs = Drugs()
    steps: tuple[Step, ...]
    refractory: Refractory = Refractory()
    cadence: Cadence
    escalation: Escalation = Escalation()
    iec_hs: IecHsScreen = IecHsScreen()

    @model_validator(mode="after")
    def _ids_unique_and_citations_resolve(self) -> Protocol:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            seen.add(step.id)
        unknown = sorted(
            {
                citation
                for citation in _all_citations(self)
                if citation.split()[0] not in self.sources
            }
        )
        if unknown:
            raise ValueError(
                "citations name sources not listed under sources: " + ", ".join(unknown)
            )
        return self

    @property
    def label(self) -> str:
        """``"toxbot-default 2026.1"``, with ``(UNAPPROVED)`` when it is not approved."""
        return f"{self.id} {self.version}" + ("" if self.approval.approved else " (UNAPPROVED)")

    def reference(self, citation: str) -> str:
        """The full reference for a citation such as ``"S12 p.4"``."""
        return self.sources[citation.split(maxsplit=1)[0]]

    @cached_property
    def step_references(self) -> Mapping[str, tuple[str, ...]]:
        """Each step's full references by step id, in citation order, each once. The same for
        every case, so worked out once per protocol rather than for every recommendation."""
        return MappingProxyType(
            {
                step.id: tuple(dict.fromkeys(self.reference(c) for c in step.citation))
                for step in self.steps
            }
        )


def _all_citations(protocol: Protocol) -> list[str]:
    cadence = protocol.cadence
    return [
        *protocol.drugs.tocilizumab.citation,
        *protocol.drugs.corticosteroids.citation,
        *(citation for step in protocol.steps for citation in step.citation),
        *protocol.refractory.crs.citation,
        *protocol.refractory.icans.citation,
        *(
            citation
            for row in (cadence.no_toxicity, cadence.grade_1, cadence.grade_3, cadence.refractory)
            for citation in row.citation
        ),
        *protocol.iec_hs.citation,
    ]


def parse_protocol(text: str) -> Protocol:
    """Parse and validate a protocol from YAML text.

    Raises :class:`ProtocolError` whose errors each name the path into the YAML (``steps.3.text``),
    the value and what is wrong.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f"line {where.line + 1}" if where is not None else "the file"
        raise ProtocolError(
            [FieldError("yaml", line, f"not valid YAML ({exc.__class__.__name__})", "YAML")]
        ) from None
    if not isinstance(data, dict):
        raise ProtocolError(
            [FieldError("protocol", type(data).__name__, "expected a mapping", "a YAML mapping")]
        )
    return protocol_from_mapping(data)


def protocol_from_mapping(data: Mapping[str, Any]) -> Protocol:
    """Validate an already-decoded protocol mapping."""
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(
            FieldError(
                ".".join(str(part) for part in error["loc"]) or "protocol",
                _shown(error.get("input")),
                error["msg"],
                "see the default protocol (toxbot protocol show)",
            )
            for error in exc.errors(include_url=False)
        ) from None


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


# Values longer than this (long text, whole references) are reported as "changed", not quoted.
_SHOWN_MAX: Final = 60


def differences(base: Protocol, other: Protocol) -> list[str]:
    """What ``other`` changes against ``base``: one line per changed leaf, with dotted paths.

    ``toxbot protocol check`` prints these so a reviewer sees exactly where an institution's file
    departs from the default. Steps are matched by id, not by position, so inserting a step is one
    ``added`` line rather than every later step "changed"; a new order among the shared steps is
    one line naming the steps that moved. Long values (step text, references) are reported as
    changed rather than quoted. Pure: the protocols in, the lines out.

    Lines look like::

        drugs.tocilizumab.max_doses_total: 4 -> 3
        steps: added crs-foo
        steps: removed crs-bar
        steps.crs-g3-dexamethasone.text changed
        steps.crs-g3-dexamethasone.when.crs_grades: [3] -> [3, 4]
        steps: order changed (moved: crs-telemetry)
        sources: added S99
    """
    old, new = _comparable(base), _comparable(other)
    lines: list[str] = []
    for key, value in old.items():  # one schema, so both sides have the same top-level fields
        _diff(key, value, new[key], lines)
        if key == "steps":
            lines.extend(_order_change(base, other))
    return lines


def _comparable(protocol: Protocol) -> dict[str, object]:
    """The protocol as plain JSON-like data, with steps keyed by id in their order."""
    data: dict[str, object] = protocol.model_dump(mode="json")
    data["steps"] = {
        step.id: step.model_dump(mode="json", exclude={"id"}) for step in protocol.steps
    }
    return data


def _diff(path: str, old: object, new: object, lines: list[str]) -> None:
    if old == new:
        return
    if isinstance(old, Mapping) and new is None:
        new = dict.fromkeys(old)  # a block removed: each of its leaves went to none
    elif old is None and isinstance(new, Mapping):
        old = dict.fromkeys(new)
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key, value in old.items():
            if key in new:
                _diff(f"{path}.{key}", value, new[key], lines)
            else:
                lines.append(f"{path}: removed {key}")
        for key, value in new.items():
            if key not in old:
                shown = _shown_leaf(value)
                suffix = f" = {shown}" if not isinstance(value, Mapping) and shown else ""
                lines.append(f"{path}: added {key}{suffix}")
        return
    before, after = _shown_leaf(old), _shown_leaf(new)
    if before is None or after is None:
        lines.append(f"{path} changed")
    else:
        lines.append(f"{path}: {before} -> {after}")


def _shown_leaf(value: object) -> str | None:
    """A short rendering of a leaf value, or ``None`` when it is too long to quote."""
    text = _render(value)
    return text if len(text) <= _SHOWN_MAX and "\n" not in text else None


def _render(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_render(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    return str(value)


def _order_change(base: Protocol, other: Protocol) -> list[str]:
    """One line naming the shared steps that moved, when their relative order differs."""
    base_ids = {step.id for step in base.steps}
    other_ids = {step.id for step in other.steps}
    before = [step.id for step in base.steps if step.id in other_ids]
    after = [step.id for step in other.steps if step.id in base_ids]
    if before == after:
        return []
    matcher = SequenceMatcher(a=before, b=after, autojunk=False)
    kept = {
        step_id
        for block in matcher.get_matching_blocks()
        for step_id in after[block.b : block.b + block.size]
    }
    moved = [step_id for step_id in after if step_id not in kept]
    return [f"steps: order changed (moved: {', '.join(moved)})"]
