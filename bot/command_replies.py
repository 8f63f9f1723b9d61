"""How each ``/tox`` answer reads: the service results of issue 5 turned into :class:`Reply` values.

Kept apart from the interpreter (``bot.commands``) so that one module reads the line and the
other says what toxbot answers. Every grade shows its drivers with their rule, every
recommendation its sources and the protocol version; missing data reads "not assessed", never 0;
the engine's decision-support wording ("Consider, per protocol: ...") is kept as it is; content
marked unverified stays marked. Lines are plain text: the renderers escape them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from bot.replies import ActionId, Button, Reply, Section, Tone, Visibility
from bot.services.api import RecordedAssessment, RecordedDose
from bot.services.queries import CaseSummary, DueList, DueReminder, Report
from grading.errors import FieldError
from grading.grammar import StatedGrades, stated_mismatches
from grading.guidance_types import (
    Advice,
    CaseState,
    NextReassessment,
    Recommendation,
    ToxicityCourse,
    Trend,
)
from grading.result import Status, ToxicityGrade
from grading.rules import RULES

HELP_HINT: Final = "Type /tox help for the commands and examples."
UNVERIFIED: Final = "[UNVERIFIED]"


# ---------------------------------------------------------------------------------------------
# Small pieces


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    """A moment in the display zone, e.g. ``2026-11-20 14:30 UTC``; "not set" for None."""
    if moment is None:
        return "not set"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


_ISO_MOMENT: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})"
)


def local_times(text: str, zone: ZoneInfo) -> str:
    """The engine's ISO moments in a text, shown as :func:`when` shows them (same instants)."""
    return _ISO_MOMENT.sub(lambda m: when(datetime.fromisoformat(m[0]), zone), text)


def day_after_infusion(state: CaseState, zone: ZoneInfo) -> str:
    """``day +2 (47 h after infusion)``: calendar days in the display zone, infusion day 0."""
    infused = state.patient.infused_at
    if infused is None or state.days_since_infusion is None:
        return "infusion time not recorded"
    if state.now < infused:
        return "before infusion"
    day = (state.now.astimezone(zone).date() - infused.astimezone(zone).date()).days
    return f"day +{day} ({state.days_since_infusion * 24:.0f} h after infusion)"


def grade_words(result: ToxicityGrade | None, name: str) -> str:
    """``CRS grade 2``, ``CRS between grade 1 and 2`` or ``CRS not assessed``."""
    if result is None or result.status is Status.NOT_ASSESSED:
        return f"{name} not assessed"
    if result.grade is not None:
        return f"{name} grade {result.grade}"
    if result.range is not None:
        low, high = result.range
        return f"{name} between grade {low} and {high}"
    return f"{name} undetermined"


def _drivers(result: ToxicityGrade) -> str:
    return "; ".join(finding.phrase for finding in result.drivers)


def grade_section(result: ToxicityGrade, name: str) -> Section:
    """One toxicity: the grade, each driver with its rule, what is missing or open, exclusions."""
    lines = [grade_words(result, name)]
    if result.status is Status.NOT_ASSESSED:
        missing = ", ".join(result.missing) or "no gradeable finding recorded"
        lines[0] += f": not graded, never read as grade 0 (not recorded: {missing})"
    lines.extend(f"- {f.criterion} ({f.observed}) [{f.rule}]" for f in result.drivers)
    if result.status is Status.UNDETERMINED:
        lines[0] += ": the recorded data do not decide it"
        if result.question:
            lines.append(result.question)
    elif result.missing and result.status is not Status.NOT_ASSESSED:
        lines.append("Not assessed: " + ", ".join(result.missing))
    lines.extend(f"Not graded: {e.finding} ({e.reason}) [{e.rule}]" for e in result.excluded)
    lines.extend(f"Warning: {warning}" for warning in result.warnings)
    rules = dict.fromkeys(RULES[f.rule].citation for f in result.drivers if f.rule in RULES)
    context = (f"Rules: {'; '.join(rules)} · ASTCT 2019 consensus (Lee et al.)",) if rules else ()
    return Section(name, tuple(lines), context)


_TREND: Final = {
    Trend.NEW: "first grade recorded",
    Trend.WORSENING: "worse than before",
    Trend.IMPROVING: "better than before",
    Trend.UNCHANGED: "unchanged",
    Trend.UNKNOWN: "trend unknown (a grade is open or not assessed)",
}


def course_line(course: ToxicityCourse, name: str, zone: ZoneInfo) -> str:
    """``CRS: worse than before (was grade 1); worst grade 2 (onset 2026-11-20 08:00 UTC)``."""
    if course.current is None:
        return f"{name}: not assessed yet"
    was = f" (was {grade_words(course.previous, name)})" if course.previous is not None else ""
    onset = f", onset {when(course.onset_at, zone)}" if course.onset_at else ", no onset yet"
    worst = "" if course.max_grade is None else f"; worst grade {course.max_grade}"
    return f"{name}: {_TREND[course.trend]}{was}{worst}{onset}"


def ledger_section(state: CaseState, zone: ZoneInfo) -> Section:
    """Tocilizumab against its limits (D17), and corticosteroid exposure (D18)."""
    ledger, steroids = state.tocilizumab, state.steroids
    lines = [
        f"Tocilizumab: {ledger.doses_last_24h} dose(s) in the last 24 h, {ledger.doses_total} in "
        f"total; {local_times(ledger.reason, zone)}"
    ]
    lines.extend(
        f"LIMIT FLAG (D17): {local_times(breach, zone)}" for breach in ledger.limit_breaches
    )
    if steroids.started_at is None:
        lines.append("Corticosteroids: none recorded")
    else:
        lines.append(
            f"Corticosteroids: {steroids.dexamethasone_equivalent_mg:g} mg dexamethasone-"
            f"equivalent in total, {steroids.last_24h_mg:g} mg in the last 24 h; latest "
            f"{local_times(steroids.regimen or '', zone)}"
        )
    if steroids.rapid_taper and steroids.rapid_taper_reason:
        lines.append(f"Rapid taper: {local_times(steroids.rapid_taper_reason, zone)}")
    return Section("Doses against limits", tuple(lines), ("D17 tocilizumab limits, D18 steroids",))


def refractory_section(state: CaseState, zone: ZoneInfo) -> Section | None:
    """The refractory flags with their reasons (D14, D15), or None when neither is set."""
    if not state.refractory.any:
        return None
    which = [
        name
        for name, flag in (("CRS", state.refractory.crs), ("ICANS", state.refractory.icans))
        if flag
    ]
    return Section(
        "REFRACTORY " + " and ".join(which) + ": clinician review (D16)",
        tuple(local_times(reason, zone) for reason in state.refractory.reasons),
    )


def recommendation_section(item: Recommendation, zone: ZoneInfo) -> Section:
    """One recommendation: its text (unverified content marked), dose arithmetic, availability,
    and a context line citing its sources and the protocol version."""
    text = item.text
    if item.unverified and not text.startswith(UNVERIFIED):
        text = f"{UNVERIFIED} {text}"
    lines = [text]
    if item.dose is not None:
        amount = "dose not computed (weight not recorded)" if item.dose.mg is None else ""
        lines.append(f"Dose: {item.dose.arithmetic}; {item.dose.schedule}{amount}")
    if not item.available:
        lines.append(f"Not offered now: {local_times(item.availability or 'see the ledger', zone)}")
    sources = ", ".join(item.citation) or "no source given"
    return Section(None, tuple(lines), (f"Source: {sources} · Protocol {item.protocol}",))


def guidance_sections(advice: Advice, zone: ZoneInfo) -> list[Section]:
    """Every recommendation, each with its sources and the protocol version."""
    sections: list[Section] = []
    sections.append(
        Section(
            f"Guidance (decision support; protocol {advice.protocol_id} {advice.protocol_version})",
            () if advice.recommendations else ("No protocol step applies now.",),
        )
    )
    sections.extend(recommendation_section(item, zone) for item in advice.recommendations)
    return sections


def next_section(upcoming: NextReassessment, zone: ZoneInfo) -> Section:
    """When vitals and the neuro screen are next due, why, and any refractory re-reviews."""
    lines = [
        f"Vitals with a CRS check: {when(upcoming.vitals_at, zone)}",
        f"Neuro screen (ICE/CAPD): {when(upcoming.neuro_at, zone)}",
        f"Why: {upcoming.basis}",
    ]
    if upcoming.reviews_at:
        lines.append(
            "Refractory re-reviews: " + ", ".join(when(m, zone) for m in upcoming.reviews_at)
        )
    cited = ", ".join(upcoming.citation)
    return Section("Next reassessment", tuple(lines), (f"Cadence: {cited}",) if cited else ())


def buttons(code: str) -> tuple[Button, ...]:
    """Record dose, Reassess, Summary: each re-checks the role when pressed."""
    return (
        Button(ActionId.REASSESS, "Reassess", code, primary=True),
        Button(ActionId.RECORD_DOSE, "Record dose", code),
        Button(ActionId.SUMMARY, "Summary", code),
    )


# ---------------------------------------------------------------------------------------------
# Errors and help


def error_reply(errors: Sequence[FieldError], *, what: str = "Nothing was recorded") -> Reply:
    """Every bad field with its value and what is accepted; ephemeral."""
    count = f"{len(errors)} problem{'s' * (len(errors) != 1)}"
    return Reply(
        summary=f"{what}: {count}.",
        sections=(Section(None, tuple(error.message() for error in errors), (HELP_HINT,)),),
        tone=Tone.ERROR,
    )


def refusal_reply(message: str) -> Reply:
    """A service refusal (no case, closed case, denied, database down); ephemeral."""
    return Reply(summary=message, tone=Tone.ERROR)


# ---------------------------------------------------------------------------------------------
# Assessments and doses


def assessment_replies(
    recorded: RecordedAssessment,
    *,
    zone: ZoneInfo,
    interpretations: Iterable[str],
    stated: StatedGrades | None,
    note: str | None,
) -> tuple[Reply, Reply]:
    """The acknowledgement (grades at once) and the full thread reply (design §7)."""
    result, advice = recorded.graded.result, recorded.advice
    state = advice.state
    code = recorded.code
    crs, icans = grade_words(result.crs, "CRS"), grade_words(result.icans, "ICANS")
    repeated = "" if recorded.created else " (already recorded: this repeats it)"
    ack_lines = [
        f"{grade_words(side, name)}: {_drivers(side) or side.summary}"
        for side, name in ((result.crs, "CRS"), (result.icans, "ICANS"))
    ]
    if state.refractory.any:
        ack_lines.append("REFRACTORY: " + local_times("; ".join(state.refractory.reasons), zone))
    ack = Reply(
        summary=f"{code}: {crs}, {icans}{repeated}",
        sections=(Section(None, tuple(ack_lines), ("Full reply in the case's thread",)),),
        case_code=code,
    )
    sections: list[Section] = []
    if advice.banner:
        sections.append(Section(None, (advice.banner,)))
    sections.append(
        Section(
            None,
            (f"Assessed {when(recorded.graded.at, zone)}, {day_after_infusion(state, zone)}",),
        )
    )
    sections.extend((grade_section(result.crs, "CRS"), grade_section(result.icans, "ICANS")))
    mismatches = stated_mismatches(result, stated)
    if mismatches:
        sections.append(Section("Check: stated grade differs", mismatches))
    said = tuple(interpretations)
    if said:
        sections.append(Section("Read as", said))
    if note:
        sections.append(Section("Note", (note,)))
    sections.append(
        Section(
            "Trend",
            (course_line(state.crs, "CRS", zone), course_line(state.icans, "ICANS", zone)),
        )
    )
    refractory = refractory_section(state, zone)
    if refractory is not None:
        sections.append(refractory)
    sections.append(ledger_section(state, zone))
    sections.extend(guidance_sections(advice, zone))
    warnings = tuple(local_times(w, zone) for w in advice.warnings if w not in mismatches)
    if warnings:
        sections.append(Section("Warnings", warnings))
    sections.append(next_section(advice.next_reassessment, zone))
    tone = Tone.WARNING if state.refractory.any or mismatches else Tone.INFO
    thread = Reply(
        summary=f"{code} · {day_after_infusion(state, zone)} · {crs} · {icans}",
        sections=tuple(sections),
        buttons=buttons(code),
        visibility=Visibility.THREAD,
        tone=tone,
        case_code=code,
    )
    return ack, thread


def dose_replies(
    recorded: RecordedDose,
    *,
    given: str,
    said: Iterable[str],
    banner: str | None,
    zone: ZoneInfo,
    steroid: bool = False,
) -> tuple[Reply, Reply]:
    """The dose as recorded (``given`` in words), the ledger against limits, any limit flag.

    The acknowledgement shows the line that matters for this drug: corticosteroid exposure for
    a steroid (``steroid``), the tocilizumab ledger otherwise."""
    state, code = recorded.state, recorded.code
    repeated = "" if recorded.created else " (already recorded: this repeats it)"
    flagged = tuple(f"LIMIT FLAG (D17): {flag}" for flag in recorded.flags)
    summary = f"{code}: recorded {given}{repeated}"
    ledger = ledger_section(state, zone)
    ack = Reply(
        summary=summary,
        sections=(Section(None, (_ack_ledger_line(ledger, steroid=steroid), *flagged)),),
        tone=Tone.WARNING if flagged else Tone.INFO,
        case_code=code,
    )
    sections = [Section(None, (banner,))] if banner else []
    sections.append(ledger)
    if said:
        sections.append(Section("Read as", tuple(said)))
    refractory = refractory_section(state, zone)
    if refractory is not None:
        sections.append(refractory)
    thread = Reply(
        summary=summary + (" (given against a limit: stored and flagged)" if flagged else ""),
        sections=tuple(sections),
        buttons=buttons(code),
        visibility=Visibility.THREAD,
        tone=Tone.WARNING if flagged else Tone.INFO,
        case_code=code,
    )
    return ack, thread


def _ack_ledger_line(ledger: Section, *, steroid: bool) -> str:
    prefix = "Corticosteroids:" if steroid else "Tocilizumab:"
    return next(line for line in ledger.lines if line.startswith(prefix))


# ---------------------------------------------------------------------------------------------
# Views


def summary_reply(summary: CaseSummary, zone: ZoneInfo) -> Reply:
    """Status, day, current and worst grades with onset, drugs given, refractory status."""
    state = summary.state
    status = summary.status
    if summary.outcome:
        status += f", outcome {summary.outcome}"
        if summary.death_attributed_to in ("crs", "icans"):
            status += f" (attributed to {summary.death_attributed_to.upper()}: grade 5, D12)"
    grades = (
        f"CRS now: {grade_words(state.crs.current, 'CRS')}",
        course_line(state.crs, "CRS", zone),
        f"ICANS now: {grade_words(state.icans.current, 'ICANS')}",
        course_line(state.icans, "ICANS", zone),
    )
    drugs = tuple(
        f"{d.drug}: {d.doses} dose(s), {d.total_mg:g} mg in all, last {when(d.last_at, zone)}"
        for d in summary.drugs
    ) or ("No doses recorded",)
    refractory = (
        tuple(local_times(r, zone) for r in state.refractory.reasons)
        if state.refractory.any
        else ("Not refractory (D14, D15)",)
    )
    return Reply(
        summary=f"{summary.code} ({summary.product}): {status}, {day_after_infusion(state, zone)}",
        sections=(
            Section("Grades", grades),
            Section("Doses given", drugs),
            Section("Refractory", refractory),
        ),
        buttons=buttons(summary.code) if summary.status == "active" else (),
        case_code=summary.code,
    )


_KIND: Final = {
    "reassess_vitals": "vitals with a CRS check",
    "reassess_neuro": "neuro screen (ICE/CAPD)",
    "refractory_review": "refractory re-review (D16)",
}


def due_reply(found: DueList, *, whose: str, zone: ZoneInfo, now: datetime | None = None) -> Reply:
    """Open reminders, soonest first: due time, what, state, level, overdue, how late (``now``)."""
    if not found.reminders:
        return Reply(summary=f"No open reminders for {whose}.")
    lines = tuple(_due_line(r, zone, now) for r in found.reminders)
    more = (f"and {found.more} more",) if found.more else ()
    return Reply(
        summary=f"Open reminders for {whose}: {len(found.reminders) + found.more}",
        sections=(Section(None, lines + more),),
    )


def _due_line(reminder: DueReminder, zone: ZoneInfo, now: datetime | None) -> str:
    """'2026-11-20 08:00 UTC  CT-7K4Q  vitals with a CRS check  (sent, level 1, 12 min late)'."""
    facts = [reminder.state]
    if reminder.level:
        facts.append(f"level {reminder.level}")
    if reminder.overdue:
        facts.append("overdue")
    if reminder.snoozed_until is not None:
        facts.append(f"snoozed until {reminder.snoozed_until.astimezone(zone):%H:%M %Z}")
    if now is not None:
        facts.append(_lateness(now - reminder.due_at))
    what = _KIND.get(reminder.kind, reminder.kind)
    return f"{when(reminder.due_at, zone)}  {reminder.code}  {what}  ({', '.join(facts)})"


def _lateness(late_by: timedelta) -> str:
    """'12 min late', '2 h 5 min late', 'due now', or 'in 40 min'."""
    minutes = int(abs(late_by.total_seconds()) // 60)
    hours, rest = divmod(minutes, 60)
    span = (f"{hours} h {rest} min" if rest else f"{hours} h") if hours else f"{rest} min"
    if minutes < 1:
        return "due now"
    return f"{span} late" if late_by > timedelta(0) else f"in {span}"


def report_reply(report: Report, zone: ZoneInfo) -> Reply:
    """Counts per product as text."""
    scope = []
    if report.start:
        scope.append(f"infused from {report.start.astimezone(zone).date()}")
    if report.end:
        scope.append(f"before {report.end.astimezone(zone).date()}")
    if report.product:
        scope.append(f"product {report.product}")
    lines = tuple(
        f"{r.product}: {r.cases} case(s); CRS any {r.crs_any}, grade 3+ {r.crs_3_plus}; "
        f"ICANS any {r.icans_any}, grade 3+ {r.icans_3_plus}; tocilizumab {r.tocilizumab}; "
        f"refractory {r.refractory}"
        for r in report.rows
    ) or ("No cases match.",)
    return Reply(
        summary=f"Report: {report.cases} case(s)" + (f" ({', '.join(scope)})" if scope else ""),
        sections=(
            Section(
                None,
                lines,
                (
                    "Worst grade per case; an open grade counts at its lower bound; "
                    "a CRS or ICANS death counts as grade 5 (D12)",
                ),
            ),
        ),
    )
