"""The ``/tox`` interpreter, the same for every front end (design §5): one line in, a reply out.

Slack's slash command, channel messages, the console and the demo all call :func:`run_line` with
the text after ``/tox``. A mistake the user can fix (an unknown field, a bad value, a case that
does not exist, a role that does not allow it) never raises: it becomes an ephemeral error reply
naming the field, the value and what is accepted, and nothing is stored. The reply model is
``bot.replies``; what each answer says is ``bot.command_replies``.

Example::

    result = run_line(services, actor, "assess CT-7K4Q temp=39.4 bp=low o2=nc:3", zone=UTC)
    print(result.ack.as_text())          # the grades, at once
    print(result.thread.as_text())       # the full reply for the case's thread
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

from bot import command_replies as say
from bot.case_text import parse_new_case
from bot.replies import CommandResult, FormKind, FormRequest, Reply, Section, Tone, Visibility
from bot.services.api import Actor, Services
from bot.services.errors import ServiceError
from grading.case import CORTICOSTEROIDS, Analyte, Drug, Route
from grading.case import StatedGrades as StatedGradesModel
from grading.errors import FieldError, InputError
from grading.grammar import ParsedAssessment, parse_assessment
from grading.guidance import UNAPPROVED_BANNER

logger = logging.getLogger(__name__)

UTC_ZONE: Final = ZoneInfo("UTC")
MAX_LINE_CHARS: Final = 4000
FUTURE_SLACK: Final = timedelta(minutes=5)  # "at=14:30" typed at 14:28 is today, not yesterday
_MENTION: Final = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|@?([UW][A-Z0-9]{2,20})")
_SLASH_TOX: Final = re.compile(r"^/tox(?:\s+|$)", re.IGNORECASE)
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CLOCK: Final = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_AMOUNT: Final = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,4})?)\s*(mg|g|mcg|µg)?", re.IGNORECASE)
_ISO_MOMENT: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
)
_AT_ACCEPTS: Final = "HH:MM (local time), or an ISO date-time such as 2026-11-20T14:30"

HELP: Final = (
    (
        "Commands",
        (
            "/tox new [LABEL] product=NAME infused=YYYY-MM-DD[THH:MM] weight=KG [age=Y] "
            "[unit=NAME] [nurse=@user]",
            "/tox assess CASE field=value ...   (no fields: opens the assessment form)",
            "/tox give CASE DRUG DOSE[mg|g] [route=iv|sc|po|it] [at=HH:MM|ISO]",
            "/tox labs CASE ferritin=.. crp=.. fibrinogen=.. alt=.. ast=.. bilirubin=.. "
            "platelets=.. anc=.. ldh=.. triglycerides=.. [at=..]",
            "/tox summary CASE    /tox due [mine|CASE]    /tox close CASE outcome=... [cause=...]",
            "/tox report [from=DATE] [to=DATE] [product=NAME] [csv]",
            "/tox role @user nurse|clinician|lead|admin",
        ),
    ),
    (
        "Assessment fields (anything not given is 'not assessed', never normal)",
        (
            "temp=39.2 (°C) or temp=102.6F · bp=low|normal · pressors=N · vasopressin=yes",
            "o2=ra|nc:L|hfnc:L|blowby|mask|nrb|venturi|cpap|bipap|vent",
            "ice=N or ice=4+3+1+0+1 · capd=N · loc=alert|spontaneous|voice|touch|unarousable",
            "aphasia=yes · seizure=none|brief|prolonged · motor=weakness · edema=focal|diffuse",
            "papilledema=yes cn6=yes posturing=yes cushing=yes (or signs=none)",
            "tremor=yes · ich=yes (recorded, never graded)",
            "treated=yes · exclude=hypotension,consciousness · stated=crs2,icans1 · at=HH:MM|ISO",
            'note="free text" (stored and shown, never logged)',
        ),
    ),
    (
        "Examples",
        (
            "/tox new product=axi-cel infused=2026-11-20T09:30 weight=72 age=58",
            "/tox assess CT-7K4Q temp=39.4 pressors=1 o2=nc:3 ice=7 loc=alert signs=none",
            "/tox give CT-7K4Q tocilizumab 576mg route=iv",
            "/tox give CT-7K4Q dexamethasone 10mg route=iv at=14:30",
            "/tox labs CT-7K4Q ferritin=2400 fibrinogen=130",
            "/tox summary CT-7K4Q      /tox due      /tox report from=2026-01-01 csv",
        ),
    ),
)

# Units a lab value is read in when none is given; the IEC-HS screen reads these (guidance).
LAB_UNITS: Final[Mapping[Analyte, str]] = {
    Analyte.FERRITIN: "ng/mL",
    Analyte.CRP: "mg/L",
    Analyte.FIBRINOGEN: "mg/dL",
    Analyte.ALT: "U/L",
    Analyte.AST: "U/L",
    Analyte.BILIRUBIN: "mg/dL",
    Analyte.PLATELETS: "10^9/L",
    Analyte.ANC: "10^9/L",
    Analyte.LDH: "U/L",
    Analyte.TRIGLYCERIDES: "mg/dL",
    Analyte.HEMOGLOBIN: "g/dL",
    Analyte.IL6: "pg/mL",
}
_DRUG_NAMES: Final[Mapping[str, Drug]] = {
    **{drug.value: drug for drug in Drug},
    "toci": Drug.TOCILIZUMAB,
    "dex": Drug.DEXAMETHASONE,
    "dexa": Drug.DEXAMETHASONE,
    "methylpred": Drug.METHYLPREDNISOLONE,
    "mp": Drug.METHYLPREDNISOLONE,
    "solumedrol": Drug.METHYLPREDNISOLONE,
    "paracetamol": Drug.ACETAMINOPHEN,
    "keppra": Drug.LEVETIRACETAM,
    "atg": Drug.ANTITHYMOCYTE_GLOBULIN,
}


@dataclass(frozen=True, slots=True)
class _Context:
    """One line being answered: who asks, through which services, in which display zone."""

    services: Services
    actor: Actor
    zone: ZoneInfo
    key: str | None


# ---------------------------------------------------------------------------------------------
# Public API


def run_line(
    services: Services,
    actor: Actor,
    line: str,
    *,
    zone: ZoneInfo,
    idempotency_key: str | None = None,
) -> CommandResult:
    """Answer one ``/tox`` line (``line`` is the text after ``/tox``; a leading ``/tox`` is
    tolerated). User errors become an ephemeral error reply; nothing is stored from them."""
    text = _SLASH_TOX.sub("", line.strip(), count=1)
    words = text.split(maxsplit=1)
    verb = words[0].lower() if words else ""
    rest = words[1] if len(words) > 1 else ""
    handler = _HANDLERS.get(verb)
    if handler is None:
        return CommandResult(ack=_unknown(verb))
    context = _Context(services, actor, zone, idempotency_key)
    try:
        _check_text(text)
        result = handler(context, rest.strip())
    except InputError as exc:
        logger.info("tox %s refused: %d field error(s)", verb, len(exc.errors))
        return CommandResult(ack=say.error_reply(exc.errors))
    except ServiceError as exc:  # CaseNotFound, CaseClosed, NotRecorded, Denied
        logger.info("tox %s refused: %s", verb, type(exc).__name__)
        return CommandResult(ack=say.refusal_reply(exc.message))
    logger.info("tox %s answered for %s", verb, actor.source)
    return result


def assessment_result(
    services: Services,
    actor: Actor,
    code: str,
    parsed: ParsedAssessment,
    *,
    idempotency_key: str | None,
    zone: ZoneInfo = UTC_ZONE,
) -> CommandResult:
    """Record a parsed assessment (from the grammar or a form) and answer with the grades in the
    acknowledgement and the full reply for the thread. ``zone`` places a time of day."""
    try:
        at = _place(parsed.at, services.now(), zone) if parsed.at is not None else None
        recorded = services.record_assessment(
            actor,
            code,
            parsed.assessment,
            at=at,
            stated=_stated(parsed),
            note=parsed.note,
            idempotency_key=idempotency_key,
        )
    except InputError as exc:
        return CommandResult(ack=say.error_reply(exc.errors))
    except ServiceError as exc:
        return CommandResult(ack=say.refusal_reply(exc.message))
    ack, thread = say.assessment_replies(
        recorded,
        zone=zone,
        interpretations=parsed.interpretations,
        stated=parsed.stated,
        note=parsed.note,
    )
    return CommandResult(ack=ack, thread=thread)


def dose_result(
    services: Services,
    actor: Actor,
    code: str,
    data: Mapping[str, Any],
    *,
    idempotency_key: str | None,
    zone: ZoneInfo = UTC_ZONE,
    said: tuple[str, ...] = (),
) -> CommandResult:
    """Record a dose (``drug``, ``dose_mg``, optional ``route`` and aware ``at``) and answer with
    the tocilizumab ledger against its limits and any limit flag (stored all the same, D17)."""
    try:
        recorded = services.record_dose(actor, code, data, idempotency_key=idempotency_key)
    except InputError as exc:
        return CommandResult(ack=say.error_reply(exc.errors))
    except ServiceError as exc:
        return CommandResult(ack=say.refusal_reply(exc.message))
    route = f" {str(data['route']).upper()}" if data.get("route") else ""
    at = data.get("at")
    given = f"{data.get('drug')} {float(data.get('dose_mg', 0)):g} mg{route}" + (
        f" at {say.when(at, zone)}" if isinstance(at, datetime) else ""
    )
    banner = None if services.protocol.approval.approved else UNAPPROVED_BANNER
    steroid = str(data.get("drug")) in {drug.value for drug in CORTICOSTEROIDS}
    ack, thread = say.dose_replies(
        recorded, given=given, said=said, banner=banner, zone=zone, steroid=steroid
    )
    return CommandResult(ack=ack, thread=thread)


def summary_result(
    services: Services, actor: Actor, code: str, *, zone: ZoneInfo = UTC_ZONE
) -> CommandResult:
    """A case's summary (status, day, grades now and worst, doses, refractory), ephemeral."""
    try:
        summary = services.case_summary(actor, code)
    except ServiceError as exc:
        return CommandResult(ack=say.refusal_reply(exc.message))
    return CommandResult(ack=say.summary_reply(summary, zone))


def help_reply() -> Reply:
    """The grammar with examples (design §5), for ``/tox help`` and any unknown command."""
    return Reply(
        summary="toxbot grades CRS and ICANS (ASTCT 2019) and shows protocol guidance as "
        "decision support.",
        sections=tuple(Section(heading, lines) for heading, lines in HELP),
    )


# ---------------------------------------------------------------------------------------------
# Subcommands


def _help(_context: _Context, _rest: str) -> CommandResult:
    return CommandResult(ack=help_reply())


def _new(context: _Context, rest: str) -> CommandResult:
    data, said = parse_new_case(rest.split(), context.zone)
    case = context.services.register_case(context.actor, data)
    nurses = ", ".join(f"<@{n}>" for n in case.nurses)
    lines = [
        f"Product {case.product}, infused {say.when(case.infused_at, context.zone)}, "
        f"{case.weight_kg:g} kg"
        + (f", {case.age_years:g} y" if case.age_years is not None else ""),
        *([f"Nurse(s): {nurses}"] if nurses else []),
    ]
    sections = [Section(None, tuple(lines))]
    if said:
        sections.append(Section("Read as", tuple(said)))
    thread = Reply(
        summary=f"Case {case.code} registered. Record assessments with /tox assess {case.code} ...",
        sections=tuple(sections),
        buttons=say.buttons(case.code),
        visibility=Visibility.THREAD,
        case_code=case.code,
    )
    ack = Reply(summary=f"Registered case {case.code} ({case.product}).", case_code=case.code)
    return CommandResult(ack=ack, thread=thread)


def _assess(context: _Context, rest: str) -> CommandResult:
    code, _, fields = rest.partition(" ")
    if not code:
        raise InputError([_missing_case("assess CASE field=value ...")])
    if not fields.strip():
        # A mistyped code, a closed case or a role that cannot record: said now, not after
        # the form was filled in (Slack checks again as the form opens, as for a button).
        context.services.check_allowed(context.actor, FormKind.ASSESSMENT.records, code)
        return CommandResult(
            ack=Reply(summary=f"Opening the assessment form for {code}.", case_code=code),
            form=FormRequest(FormKind.ASSESSMENT, code),
        )
    parsed = parse_assessment(fields.strip())
    return assessment_result(
        context.services,
        context.actor,
        code,
        parsed,
        idempotency_key=context.key,
        zone=context.zone,
    )


def _give(context: _Context, rest: str) -> CommandResult:
    tokens = rest.split()
    usage = "give CASE DRUG DOSE[mg|g] [route=iv|sc|po|it] [at=HH:MM|ISO]"
    if not tokens:
        raise InputError([_missing_case(usage)])
    code, words = tokens[0], tokens[1:]
    options = {k.lower(): v for k, _, v in (w.partition("=") for w in words if "=" in w)}
    plain = [w for w in words if "=" not in w]
    errors: list[FieldError] = []
    data: dict[str, Any] = {}
    said: list[str] = []
    if not plain:
        raise InputError([FieldError("drug", "", "no drug given", usage)])
    drug = _DRUG_NAMES.get(plain[0].lower())
    if drug is None:
        errors.append(
            FieldError(
                "drug", plain[0], "not a drug toxbot counts", ", ".join(d.value for d in Drug)
            )
        )
    else:
        data["drug"] = drug.value
    try:
        data["dose_mg"], how = _milligrams(plain[1:])
        if how:
            said.append(how)
    except InputError as exc:
        errors.extend(exc.errors)
    for key, value in options.items():
        if key == "route":
            if value.lower() in {r.value for r in Route}:
                data["route"] = value.lower()
            else:
                errors.append(FieldError("route", value, "not a route", "iv, sc, po or it"))
        elif key == "at":
            try:
                data["at"] = _read_at(value, context.services.now(), context.zone)
                said.append(f"at={value} → given {say.when(data['at'], context.zone)}")
            except InputError as exc:
                errors.extend(exc.errors)
        else:
            errors.append(FieldError(key, value, "unknown field", "route=, at="))
    if errors:
        raise InputError(errors)
    return dose_result(
        context.services,
        context.actor,
        code,
        data,
        idempotency_key=context.key,
        zone=context.zone,
        said=tuple(said),
    )


def _labs(context: _Context, rest: str) -> CommandResult:
    tokens = rest.split()
    if not tokens:
        raise InputError([_missing_case("labs CASE ferritin=.. crp=..")])
    code = tokens[0]
    errors: list[FieldError] = []
    results: list[dict[str, Any]] = []
    at: datetime | None = None
    said: list[str] = []
    accepted = ", ".join(a.value for a in LAB_UNITS) + ", at="
    for token in tokens[1:]:
        key, equals, value = token.partition("=")
        key = key.lower()
        if not equals:
            errors.append(FieldError(token, "", "expected analyte=value", accepted))
        elif key == "at":
            try:
                at = _read_at(value, context.services.now(), context.zone)
            except InputError as exc:
                errors.extend(exc.errors)
        elif key not in {a.value for a in Analyte}:
            errors.append(FieldError(key, value, "not an analyte toxbot reads", accepted))
        else:
            analyte = Analyte(key)
            match = re.fullmatch(r"([0-9]{1,7}(?:\.[0-9]{1,4})?)([A-Za-z/^0-9*µ.]*)", value)
            if match is None:
                errors.append(
                    FieldError(key, value, "not a number", f"a number, in {LAB_UNITS[analyte]}")
                )
                continue
            unit = match[2] or LAB_UNITS[analyte]
            results.append({"analyte": analyte.value, "value": float(match[1]), "unit": unit})
            said.append(f"{key}={value} → {float(match[1]):g} {unit}")
    if not results and not errors:
        errors.append(FieldError("labs", "", "no results given", accepted))
    if errors:
        raise InputError(errors)
    if at is not None:
        for result in results:
            result["at"] = at
    stored = context.services.record_labs(context.actor, code, results, idempotency_key=context.key)
    when = say.when(at or context.services.now(), context.zone)
    reply = Reply(
        summary=f"{code}: {stored} lab result(s) recorded, taken {when}"
        if stored
        else f"{code}: already recorded (this repeats it)",
        sections=(Section("Read as", tuple(said)),),
        case_code=code,
    )
    return CommandResult(ack=reply)


def _summary(context: _Context, rest: str) -> CommandResult:
    words = rest.split()
    if len(words) != 1:
        raise InputError(
            [_missing_case("summary CASE")]
            if not words
            else [FieldError(words[1], "", "unexpected", "summary CASE")]
        )
    code = words[0]
    return summary_result(context.services, context.actor, code, zone=context.zone)


def _due(context: _Context, rest: str) -> CommandResult:
    words = rest.split()
    if len(words) > 1:
        raise InputError([FieldError(words[1], "", "unexpected", "due, due mine or due CASE")])
    target = words[0] if words else "mine"
    if target.lower() == "mine":
        found = context.services.due_reminders(context.actor)
        reply = say.due_reply(found, whose="you", zone=context.zone, now=context.services.now())
        return CommandResult(ack=reply)
    found = context.services.due_reminders(context.actor, code=target)
    now = context.services.now()
    return CommandResult(
        ack=say.due_reply(found, whose=f"case {target}", zone=context.zone, now=now)
    )


def _close(context: _Context, rest: str) -> CommandResult:
    tokens = rest.split()
    usage = "close CASE outcome=recovered|discharged|transferred|death [cause=crs|icans|other]"
    if not tokens:
        raise InputError([_missing_case(usage)])
    code = tokens[0]
    fields: dict[str, str] = {}
    errors: list[FieldError] = []
    for token in tokens[1:]:
        key, equals, value = token.partition("=")
        if not equals or key.lower() not in {"outcome", "cause"}:
            errors.append(FieldError(key, value, "unknown field", "outcome=, cause="))
        else:
            fields[key.lower()] = value
    if "outcome" not in fields:
        errors.append(
            FieldError("outcome", "", "not given", "recovered, discharged, transferred or death")
        )
    if errors:
        raise InputError(errors)
    case = context.services.close_case(
        context.actor, code, outcome=fields["outcome"], cause=fields.get("cause")
    )
    cause = f", attributed to {case.death_attributed_to}" if case.death_attributed_to else ""
    reply = Reply(
        summary=f"Case {case.code} closed: {case.outcome}{cause}. Its reminders are cancelled.",
        visibility=Visibility.THREAD,
        case_code=case.code,
    )
    return CommandResult(ack=Reply(summary=reply.summary, case_code=case.code), thread=reply)


def _report(context: _Context, rest: str) -> CommandResult:
    errors: list[FieldError] = []
    start: datetime | None = None
    end: datetime | None = None
    product: str | None = None
    export = False
    for token in rest.split():
        key, equals, value = token.partition("=")
        key = key.lower()
        if not equals and key == "csv":
            export = True
        elif key in {"from", "to"} and equals:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                errors.append(FieldError(key, value, "not a date", "YYYY-MM-DD"))
                continue
            midnight = datetime.combine(day, time(0), tzinfo=context.zone)
            if key == "from":
                start = midnight
            else:
                end = midnight + timedelta(days=1)  # "to" includes its day
        elif key == "product" and equals and value:
            product = value
        else:
            errors.append(
                FieldError(key, value, "unknown field", "from=DATE, to=DATE, product=, csv")
            )
    if errors:
        raise InputError(errors)
    report = context.services.programme_report(
        context.actor, start=start, end=end, product=product, export=export
    )
    reply = say.report_reply(report, context.zone)
    if export:
        from bot.services.queries import report_csv

        reply = Reply(
            summary=reply.summary + " (CSV below)",
            sections=(Section(None, tuple(report_csv(report).splitlines())),),
        )
    return CommandResult(ack=reply)


def _role(context: _Context, rest: str) -> CommandResult:
    words = rest.split()
    usage = "role @user nurse|clinician|lead|admin"
    if len(words) != 2:
        raise InputError([FieldError("role", rest, "expected a user and a role", usage)])
    match = _MENTION.fullmatch(words[0])
    if match is None:
        raise InputError(
            [
                FieldError(
                    "user", words[0], "not a Slack user", "a mention such as @jane or U0123ABC"
                )
            ]
        )
    user = match[1] or match[2]
    context.services.set_role(context.actor, user, words[1])
    return CommandResult(ack=Reply(summary=f"<@{user}> is now {words[1].lower()}."))


_HANDLERS: Final[Mapping[str, Callable[[_Context, str], CommandResult]]] = {
    "": _help,
    "help": _help,
    "new": _new,
    "assess": _assess,
    "give": _give,
    "labs": _labs,
    "summary": _summary,
    "due": _due,
    "close": _close,
    "report": _report,
    "role": _role,
}


# ---------------------------------------------------------------------------------------------
# Values


def _unknown(verb: str) -> Reply:
    shown = verb if len(verb) <= 30 else verb[:27] + "..."
    return Reply(
        summary=f"Unknown command {shown!r}.",
        sections=(
            Section(
                None, ("Commands: " + ", ".join(k for k in _HANDLERS if k) + ".",), (say.HELP_HINT,)
            ),
        ),
        tone=Tone.ERROR,
    )


def _check_text(text: str) -> None:
    if len(text) > MAX_LINE_CHARS:
        raise InputError(
            [FieldError("text", f"{len(text)} characters", "too long", f"at most {MAX_LINE_CHARS}")]
        )
    bad = _CONTROL.search(text)
    if bad is not None:
        raise InputError(
            [FieldError("text", repr(bad[0]), "contains a control character", "printable text")]
        )


def _missing_case(usage: str) -> FieldError:
    return FieldError("case", "", "no case code given", usage)


def _stated(parsed: ParsedAssessment) -> StatedGradesModel | None:
    """The grammar's stated grades as the service's model (None when none were stated)."""
    if parsed.stated is None:
        return None
    return StatedGradesModel(crs=parsed.stated.crs, icans=parsed.stated.icans)


def _milligrams(words: list[str]) -> tuple[float, str | None]:
    """The dose's words (``640``, ``640mg``, ``640 mg``, ``1g``) → mg; the conversion is echoed.

    A refusal shows the words as typed. A route word among them (``640mg iv``) is named as
    such, with how a route is written: the grammar takes ``route=iv``, and a bare ``iv`` is not
    read as one (nothing is guessed)."""
    amount, typed = "".join(words), " ".join(words)
    accepted = "a dose in mg, e.g. 640mg, 10 mg or 1g (per-kg doses: give the mg given)"
    match = _AMOUNT.fullmatch(amount)
    if match is None:
        routes = [w for w in words if w.lower() in {r.value for r in Route}]
        problem = "no dose given" if not amount else "not a dose"
        if routes:
            problem = f"not a dose: {routes[0]!r} is a route, written route={routes[0].lower()}"
        raise InputError([FieldError("dose", typed, problem, accepted)])
    try:
        value = Decimal(match[1])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise InputError([FieldError("dose", amount, "not a number", accepted)]) from None
    unit = (match[2] or "mg").lower()
    factor = {"mg": Decimal(1), "g": Decimal(1000), "mcg": Decimal("0.001"), "µg": Decimal("0.001")}
    mg = float(value * factor[unit])
    return mg, (None if unit == "mg" else f"{amount} → {mg:g} mg")


def _read_at(value: str, now: datetime, zone: ZoneInfo) -> datetime:
    """``at=`` as an aware moment: HH:MM is the latest such time not in the future."""
    clock = _CLOCK.fullmatch(value)
    try:
        if clock is None and _ISO_MOMENT.fullmatch(value) is None:
            raise ValueError(value)  # a date alone, or anything else, is not a time
        moment: datetime | time = (
            time(int(clock[1]), int(clock[2])) if clock else datetime.fromisoformat(value)
        )
    except ValueError:
        raise InputError([FieldError("at", value, "not a time", _AT_ACCEPTS)]) from None
    return _place(moment, now, zone)


def _place(moment: datetime | time, now: datetime, zone: ZoneInfo) -> datetime:
    """A time of day → today in ``zone`` (yesterday if that is still ahead); naive → ``zone``."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    local_now = now.astimezone(zone)
    placed = datetime.combine(local_now.date(), moment, tzinfo=zone)
    if placed > local_now + FUTURE_SLACK:
        placed -= timedelta(days=1)
    return placed
