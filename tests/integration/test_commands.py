"""The ``/tox`` interpreter against the real services, on SQLite and PostgreSQL (issue 5).

Every subcommand of design §5 is run as a user types it. A line a user can fix never raises: it
answers with an ephemeral error naming the field, the value and what is accepted, and stores
nothing (the row counts say so). Denials are audited. Notes are shown as plain text and never
reach a log line.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.commands import HELP, assessment_result, help_reply, run_line, summary_result
from bot.db import models
from bot.protocol_files import load_protocol
from bot.replies import ActionId, CommandResult, FormKind, Reply, Tone, Visibility
from bot.services.api import Actor, Services
from bot.services.members import Role, set_role
from grading.grammar import parse_assessment
from tests.integration.conftest import FakeClock

UTC = ZoneInfo("UTC")
ADMIN = Actor("console", "console", trusted=True)
NURSE = Actor("U0NURSE1", "slash")
CLINICIAN = Actor("U0DOC001", "slash")
LEAD = Actor("U0LEAD01", "slash")
STRANGER = Actor("U0NOBODY", "slash")
NEW = "new product=axi-cel infused=2026-11-19T09:00 weight=80 age=61 nurse=<@U0NURSE1|nina>"
CRS2 = "temp=102.6F bp=low o2=ra ice=10 loc=alert signs=none"


@pytest.fixture
def services(sessions: sessionmaker[Session], clock: FakeClock) -> Services:
    with sessions.begin() as session:
        for actor, role in ((NURSE, Role.NURSE), (CLINICIAN, Role.CLINICIAN), (LEAD, Role.LEAD)):
            set_role(
                session, actor="setup", target=actor.user, role=role, unit=None, at=clock.now()
            )
    return Services(sessions=sessions, clock=clock, protocol=load_protocol(environ={}))


def tox(services: Services, line: str, actor: Actor = ADMIN, **options: Any) -> CommandResult:
    result = run_line(services, actor, line, zone=UTC, **options)
    assert isinstance(result, CommandResult)
    return result


@pytest.fixture
def open_case(services: Services) -> str:
    return registered(services)


def registered(services: Services) -> str:
    result = tox(services, NEW)
    assert result.ack.tone is Tone.INFO, result.ack.as_text()
    assert result.ack.case_code is not None
    return result.ack.case_code


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def rows(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Every table a command can write, counted (the audit log aside)."""
    tables = (models.Case, models.Assessment, models.Dose, models.Lab, models.Reminder)
    return {model.__tablename__: count(sessions, model) for model in tables}


def text(result: CommandResult) -> str:
    parts = [result.ack.as_text()]
    if result.thread is not None:
        parts.append(result.thread.as_text())
    return "\n".join(parts)


def assert_error(reply: Reply, *needles: str) -> None:
    assert reply.tone is Tone.ERROR
    assert reply.visibility is Visibility.EPHEMERAL
    shown = reply.as_text()
    for needle in needles:
        assert needle in shown, (needle, shown)


# --- help and unknown commands ---------------------------------------------------------------


@pytest.mark.parametrize("line", ["help", "/tox help", "", "/tox", "  HELP  "])
def test_help_lists_every_subcommand_with_examples(services: Services, line: str) -> None:
    result = tox(services, line)
    assert result.ack == help_reply()
    shown = result.ack.as_text()
    for verb in ("new", "assess", "give", "labs", "summary", "due", "close", "report", "role"):
        assert f"/tox {verb}" in shown
    assert "/tox assess CT-7K4Q temp=39.4" in shown  # an example, not only the grammar
    assert "Examples" in [heading for heading, _ in HELP]


def test_an_unknown_subcommand_points_to_help(services: Services) -> None:
    result = tox(services, "frobnicate CT-7K4Q")
    assert_error(result.ack, "'frobnicate'", "/tox help")
    assert result.thread is None
    assert_error(tox(services, "/toxic").ack, "'/toxic'")  # only a whole /tox is dropped


def test_words_may_be_separated_by_any_whitespace(services: Services) -> None:
    code = registered(services)
    result = tox(services, f"/TOX\tsummary\n{code}")
    assert result.ack.summary.startswith(f"{code} (axi-cel): active")


# --- new -------------------------------------------------------------------------------------


def test_new_registers_a_case_and_posts_its_thread(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    result = tox(services, NEW)
    code = result.ack.case_code
    assert code is not None
    assert code.startswith("CT-")
    assert result.thread is not None
    assert result.thread.visibility is Visibility.THREAD
    assert result.thread.case_code == code
    assert "infused 2026-11-19 09:00 UTC, 80 kg" in result.thread.as_text()
    assert "<@U0NURSE1>" in result.thread.as_text()
    with sessions() as session:
        case = session.scalars(select(models.Case)).one()
    assert case.nurses == ["U0NURSE1"]


def test_new_with_bad_fields_names_them_and_stores_nothing(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    before = rows(sessions)
    result = tox(services, "new product=axi-cel infused=yesterday weight=80 colour=red")
    assert_error(result.ack, "infused=yesterday", "YYYY-MM-DD", "colour=red", "unknown field")
    assert rows(sessions) == before


def test_new_refuses_a_nurse_and_says_which_role_would_do(services: Services) -> None:
    result = tox(services, NEW, NURSE)
    assert_error(result.ack, "registering a case needs the clinician, lead or admin role")


# --- assess ----------------------------------------------------------------------------------


def test_assess_answers_grades_at_once_and_the_full_reply_for_the_thread(
    services: Services, clock: FakeClock
) -> None:
    code = registered(services)
    result = tox(services, f"assess {code} {CRS2} stated=crs1", NURSE)
    assert result.ack.summary == f"{code}: CRS grade 2, ICANS grade 0"
    assert "fever ≥38.0 °C (39.22 °C)" in result.ack.as_text()  # the drivers, in the ack
    thread = result.thread
    assert thread is not None
    assert thread.visibility is Visibility.THREAD
    assert thread.case_code == code
    shown = thread.as_text()
    assert thread.summary.startswith(f"{code} · day +1 (23 h after infusion)")
    assert "- hypotension not requiring vasopressors (hypotension, no vasopressor) [R-CRS-7]" in (
        shown
    )
    assert "Rules: R-CRS-1 [S3][S44]" in shown  # each rule with its citation
    assert "temp=102.6F → 39.22 °C (converted from 102.6 °F)" in shown  # interpretations echoed
    assert "Stated CRS grade 1 differs from the computed CRS grade 2" in shown
    assert "Tocilizumab: 0 dose(s) in the last 24 h, 0 in total" in shown
    assert "Corticosteroids: none recorded" in shown
    assert "UNAPPROVED PROTOCOL" in shown  # the default protocol is not approved
    assert "Vitals with a CRS check: 2026-11-20 10:00 UTC" in shown
    assert thread.tone is Tone.WARNING  # the stated grade differs
    assert {b.action_id for b in thread.buttons} == {
        ActionId.RECORD_DOSE,
        ActionId.REASSESS,
        ActionId.SUMMARY,
    }
    assert all(b.value == code for b in thread.buttons)


def test_every_recommendation_cites_its_source_and_the_protocol_version(
    services: Services,
) -> None:
    code = registered(services)
    result = tox(services, f"assess {code} {CRS2}")
    assert result.thread is not None
    advice = services.show_case(ADMIN, code).advice
    items = [s for s in result.thread.sections if s.context and "Protocol " in s.context[0]]
    assert len(items) == len(advice.recommendations) >= 3
    for section, item in zip(items, advice.recommendations, strict=True):
        assert section.context[0].startswith("Source: " + ", ".join(item.citation))
        assert section.context[0].endswith("Protocol toxbot-default 2026.1 (UNAPPROVED)")
        assert section.lines[0].startswith("[UNVERIFIED]") == item.unverified
        assert item.text in section.lines[0]  # the engine's decision-support wording, kept
    assert any(item.unverified for item in advice.recommendations)


def test_an_open_grade_is_shown_as_a_range_with_what_decides_it(services: Services) -> None:
    code = registered(services)
    result = tox(services, f"assess {code} temp=39 o2=nc:4")
    assert "CRS between grade 2 and 4" in result.ack.summary
    assert "ICANS not assessed" in result.ack.summary
    assert result.thread is not None
    shown = result.thread.as_text()
    assert "CRS between grade 2 and 4: the recorded data do not decide it" in shown
    assert "CRS is grade 2-4 on these data. To decide, record blood pressure support" in shown
    assert "never read as grade 0" in shown


def test_assess_without_fields_asks_for_the_form(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    code = registered(services)
    before = rows(sessions)
    result = tox(services, f"assess {code}", NURSE)
    assert result.form is not None
    assert (result.form.kind, result.form.case_code) == (FormKind.ASSESSMENT, code)
    assert result.thread is None
    assert rows(sessions) == before


def test_no_form_is_asked_for_a_case_that_is_not_there_or_closed_or_by_a_stranger(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    missing = tox(services, "assess CT-ZZZZ", NURSE)
    assert missing.form is None
    assert_error(missing.ack, "No case CT-ZZZZ")
    code = registered(services)
    stranger = tox(services, f"assess {code}", Actor("U0STRANGER", "slash"))
    assert stranger.form is None
    assert_error(stranger.ack, "Not allowed")
    tox(services, f"close {code} outcome=recovered", CLINICIAN)
    closed = tox(services, f"assess {code}", NURSE)
    assert closed.form is None
    assert_error(closed.ack, f"Case {code} is closed")


def test_a_bad_assessment_names_each_field_and_stores_nothing(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    code = registered(services)
    before = rows(sessions)
    result = tox(services, f"assess {code} temp=50 spo2=91 o2=nc:4", NURSE)
    assert_error(result.ack, "temp=50", "outside 30-45 °C", "spo2=91", "Accepted:", "/tox help")
    assert result.thread is None
    assert rows(sessions) == before


def test_an_unknown_or_closed_case_is_refused_and_nothing_is_stored(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    assert_error(tox(services, f"assess CT-ZZZZ {CRS2}").ack, "No case CT-ZZZZ")
    code = registered(services)
    closed = tox(services, f"close {code} outcome=recovered", CLINICIAN)
    assert f"Case {code} closed: recovered" in closed.ack.summary
    before = rows(sessions)
    assert_error(tox(services, f"assess {code} {CRS2}", NURSE).ack, f"Case {code} is closed")
    assert rows(sessions) == before


def test_a_time_of_day_is_placed_on_the_latest_such_moment(
    services: Services, clock: FakeClock
) -> None:
    code = registered(services)  # the clock stands at 2026-11-20 08:00 UTC
    result = tox(services, f"assess {code} {CRS2} at=23:30")
    assert result.thread is not None
    assert "Assessed 2026-11-19 23:30 UTC" in result.thread.as_text()


def test_a_repeated_idempotency_key_stores_once(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    code = registered(services)
    first = tox(services, f"assess {code} {CRS2}", idempotency_key="Ev1")
    again = tox(services, f"assess {code} {CRS2}", idempotency_key="Ev1")
    assert "already recorded" not in first.ack.summary
    assert "already recorded" in again.ack.summary
    assert count(sessions, models.Assessment) == 1


def test_assessment_result_serves_a_form_submission(services: Services) -> None:
    code = registered(services)
    parsed = parse_assessment("temp=38.4 bp=normal o2=ra")
    result = assessment_result(services, NURSE, code, parsed, idempotency_key="view-1")
    assert result.ack.summary == f"{code}: CRS grade 1, ICANS not assessed"
    assert result.thread is not None


# --- notes -----------------------------------------------------------------------------------


def test_a_note_is_shown_as_plain_text_and_never_logged(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    code = registered(services)
    note = "<!channel> rigors at 03:00, wife says confused"
    with caplog.at_level(logging.DEBUG):
        result = tox(services, f'assess {code} {CRS2} note="{note}"', NURSE)
        tox(services, f'assess {code} temp=99 note="{note}"', NURSE)  # refused: still not logged
    assert result.thread is not None
    note_sections = [s for s in result.thread.sections if s.heading == "Note"]
    assert [s.lines for s in note_sections] == [(note,)]  # verbatim: the renderer escapes it
    assert caplog.records  # the interpreter does log, but never the note
    assert "rigors" not in caplog.text
    assert "<!channel>" not in caplog.text


# --- give, labs ------------------------------------------------------------------------------


def test_give_shows_the_ledger_and_flags_a_dose_against_a_limit(
    services: Services, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    code = registered(services)
    first = tox(services, f"give {code} tocilizumab 640 mg route=iv", NURSE)
    assert first.ack.summary == f"{code}: recorded tocilizumab 640 mg IV"
    assert "Tocilizumab: 1 dose(s) in the last 24 h, 1 in total" in first.ack.as_text()
    assert "possible again from 2026-11-20 16:00 UTC" in first.ack.as_text()  # not raw ISO
    assert first.ack.tone is Tone.INFO
    clock.advance(hours=2)
    second = tox(services, f"give {code} toci 0.64g", NURSE)
    assert second.ack.tone is Tone.WARNING
    assert "LIMIT FLAG (D17)" in second.ack.as_text()
    assert "(minimum 8 h)" in second.ack.as_text()
    assert second.thread is not None
    assert "0.64g → 640 mg" in second.thread.as_text()
    assert "stored and flagged" in second.thread.summary
    assert count(sessions, models.Dose) == 2  # stored all the same (D17)


def test_give_with_bad_values_names_each_and_stores_nothing(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    code = registered(services)
    before = rows(sessions)
    result = tox(services, f"give {code} aspirin 8mg/kg route=im at=noon", NURSE)
    dated = tox(services, f"give {code} dex 10mg at=2026-11-20", NURSE)
    assert_error(dated.ack, "at=2026-11-20", "not a time")
    assert_error(
        result.ack,
        "drug=aspirin",
        "tocilizumab, siltuximab",
        "dose=8mg/kg",
        "route=im",
        "iv, sc, po or it",
        "at=noon",
        "HH:MM",
    )
    assert rows(sessions) == before


def test_a_dose_refused_is_shown_as_typed_and_a_bare_route_is_named(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    """The grammar takes route=iv; "640 mg iv" is refused (a bare route is not guessed), with
    the words as the user typed them and how a route is written."""
    code = registered(services)
    before = rows(sessions)
    routed = tox(services, f"give {code} tocilizumab 592 mg iv", NURSE)
    assert_error(routed.ack, "dose=592 mg iv", "'iv' is a route, written route=iv")
    assert "592mgiv" not in routed.ack.as_text()
    spaced = tox(services, f"give {code} dex 10 kg", NURSE)
    assert_error(spaced.ack, "dose=10 kg", "not a dose", "640mg, 10 mg or 1g")
    assert rows(sessions) == before


def test_labs_are_stored_with_their_units_echoed(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    code = registered(services)
    result = tox(services, f"labs {code} ferritin=2400 fibrinogen=130 crp=180mg/L", NURSE)
    assert result.ack.summary.startswith(f"{code}: 3 lab result(s) recorded")
    assert "ferritin=2400 → 2400 ng/mL" in result.ack.as_text()
    assert count(sessions, models.Lab) == 3
    before = rows(sessions)
    refused = tox(services, f"labs {code} ferritin=high sodium=140", NURSE)
    assert_error(refused.ack, "ferritin=high", "not a number", "sodium=140", "not an analyte")
    assert rows(sessions) == before


# --- summary, due, close ---------------------------------------------------------------------


def test_summary_shows_status_grades_doses_and_refractory_status(
    services: Services, clock: FakeClock
) -> None:
    code = registered(services)
    tox(services, f"assess {code} {CRS2}")
    tox(services, f"give {code} tocilizumab 640mg")
    clock.advance(hours=4)
    tox(services, f"assess {code} temp=38.2 bp=normal o2=ra ice=10 loc=alert signs=none")
    result = summary_result(services, NURSE, code)
    shown = result.ack.as_text()
    assert result.ack.summary.startswith(f"{code} (axi-cel): active, day +1")
    assert "CRS now: CRS grade 1" in shown
    assert "CRS: better than before (was CRS grade 2); worst grade 2, onset 2026-11-20 08:00" in (
        shown
    )
    assert "tocilizumab: 1 dose(s), 640 mg in all" in shown
    assert "Not refractory (D14, D15)" in shown
    assert tox(services, f"summary {code}").ack == result.ack


def test_summary_is_audited_as_a_case_view(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    code = registered(services)
    tox(services, f"summary {code}", NURSE)
    with sessions() as session:
        event = session.scalars(
            select(models.AuditEvent).order_by(models.AuditEvent.id.desc())
        ).first()
    assert event is not None
    assert (event.action, event.actor, event.case_code) == ("case.view", NURSE.user, code)


def test_due_lists_open_reminders_for_me_or_for_a_case(services: Services) -> None:
    code = registered(services)
    tox(services, f"assess {code} {CRS2}")
    mine = tox(services, "due", NURSE).ack.as_text()
    assert "Open reminders for you: 2" in mine
    assert f"2026-11-20 10:00 UTC  {code}  vitals with a CRS check  (pending, in 2 h)" in mine
    assert "No open reminders for you." in tox(services, "due mine", CLINICIAN).ack.summary
    case = tox(services, f"due {code}", CLINICIAN).ack.as_text()
    assert f"Open reminders for case {code}: 2" in case
    assert_error(tox(services, "due CT-ZZZZ").ack, "No case CT-ZZZZ")


def test_close_needs_an_outcome_and_cancels_nothing_when_refused(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    code = registered(services)
    assert_error(tox(services, f"close {code}", CLINICIAN).ack, "outcome", "recovered, discharged")
    assert_error(
        tox(services, f"close {code} outcome=better", CLINICIAN).ack, "outcome=better", "death"
    )
    assert_error(tox(services, f"close {code} outcome=recovered", NURSE).ack, "clinician or admin")
    with sessions() as session:
        assert session.scalars(select(models.Case.status)).one() == "active"


# --- report and roles ------------------------------------------------------------------------


def test_report_counts_per_product_and_exports_csv(services: Services, clock: FakeClock) -> None:
    code = registered(services)
    tox(services, f"assess {code} temp=39 pressors=1 o2=ra ice=6 loc=alert signs=none")
    tox(services, f"give {code} tocilizumab 640mg")
    other = tox(services, "new product=tisa-cel infused=2026-11-18 weight=60").ack.case_code
    assert other is not None
    result = tox(services, "report", LEAD)
    shown = result.ack.as_text()
    assert result.ack.summary == "Report: 2 case(s)"
    assert "axi-cel: 1 case(s); CRS any 1, grade 3+ 1; ICANS any 1, grade 3+ 0; tocilizumab 1" in (
        shown
    )
    assert "tisa-cel: 1 case(s); CRS any 0, grade 3+ 0" in shown
    only = tox(services, "report product=TISA-CEL from=2026-11-18 to=2026-11-18", LEAD)
    assert only.ack.summary.startswith("Report: 1 case(s)")
    none = tox(services, "report to=2026-11-17", LEAD)
    assert "No cases match." in none.ack.as_text()
    exported = tox(services, "report csv", LEAD).ack.as_text()
    assert "product,cases,crs_any,crs_grade_3_plus" in exported
    assert "axi-cel,1,1,1,1,0,1,0" in exported
    assert_error(tox(services, "report from=last-week", LEAD).ack, "from=last-week", "YYYY-MM-DD")


def test_a_nurse_asking_for_a_report_is_refused_and_the_denial_audited(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    for line, action in (("report", "report.view"), ("report csv", "report.export")):
        result = tox(services, line, NURSE)
        assert_error(result.ack, "needs the lead or admin role")
        with sessions() as session:
            denied = session.scalars(
                select(models.AuditEvent).where(models.AuditEvent.action == f"denied:{action}")
            ).one()
        assert (denied.actor, denied.role) == (NURSE.user, "nurse")


def test_role_sets_a_members_role_from_a_mention(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    result = tox(services, "role <@U0NEW123|jane> clinician")
    assert result.ack.summary == "<@U0NEW123> is now clinician."
    assert tox(services, "role <@U0NEW124> nurse").ack.tone is Tone.INFO
    with sessions() as session:
        query = select(models.Member.slack_user_id, models.Member.role)
        roles = dict(session.execute(query).tuples().all())
    assert roles["U0NEW123"] == "clinician"
    assert roles["U0NEW124"] == "nurse"
    assert_error(tox(services, "role <@U0NEW123> surgeon").ack, "role=surgeon", "not a role")
    assert_error(tox(services, "role jane nurse").ack, "user=jane", "not a Slack user")
    assert_error(tox(services, "role <@U0NEW125> admin", NURSE).ack, "admin role")
    assert_error(tox(services, "due", STRANGER).ack, "Not allowed: viewing a case")


def test_role_refuses_to_demote_the_only_admin_and_says_how(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    """An admin stepping down while no one else is admin would leave nobody able to set
    roles from Slack: refused, with the way out, and the role stays."""
    assert tox(services, "role <@U0ADMIN9> admin").ack.tone is Tone.INFO
    admin = Actor("U0ADMIN9", "slash")

    refused = tox(services, "role <@U0ADMIN9> clinician", admin)

    assert refused.ack.tone is Tone.ERROR
    assert refused.ack.visibility is Visibility.EPHEMERAL
    assert "only admin" in refused.ack.as_text()
    assert "/tox role @someone admin" in refused.ack.as_text()
    assert tox(services, "role <@U0LEAD01> admin", admin).ack.tone is Tone.INFO
    assert tox(services, "role <@U0ADMIN9> clinician", admin).ack.tone is Tone.INFO
    with sessions() as session:
        query = select(models.Member.slack_user_id, models.Member.role)
        roles = dict(session.execute(query).tuples().all())
    assert (roles["U0ADMIN9"], roles["U0LEAD01"]) == ("clinician", "admin")


# --- robustness ------------------------------------------------------------------------------

# Pieces of real lines, so that generated text reaches the readers behind each subcommand.
FRAGMENTS = [
    "temp=39",
    "temp=102F",
    "o2=nc:4",
    "bp=low",
    "pressors=2",
    "ice=4+3+1+0+1",
    "at=23:59",
    "at=2026-11-20T07:00",
    "at=2026-13-40T99:99",
    'note="x y"',
    "note=“a ”b”",
    "stated=crs9",
    "tocilizumab",
    "dex",
    "640mg",
    "1g",
    "route=iv",
    "ferritin=2400",
    "platelets=40x10^9/L",
    "outcome=death",
    "cause=crs",
    "product=axi-cel",
    "infused=2026-11-19",
    "weight=80",
    "nurse=<@U1ABC|x>",
    "from=2026-01-01",
    "csv",
    "nurse",
    "admin",
    "<@U0ABC123>",
    "=",
    "mine",
]
VERBS = ["", "help", "new", "assess", "give", "labs", "summary", "due", "close", "report", "role"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    verb=st.sampled_from(VERBS),
    code=st.sampled_from(["", "CT-ZZZZ", "{code}", "<@U1|x>", "ct-"]),
    rest=st.one_of(
        st.text(max_size=80),
        st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=8).map(
            " ".join
        ),
    ),
)
def test_any_command_text_answers_with_a_reply_and_never_raises(
    services: Services, open_case: str, verb: str, code: str, rest: str
) -> None:
    # Function-scoped fixtures are shared by every example of one run: one case, many lines.
    result = tox(services, f"{verb} {code.format(code=open_case)} {rest}", NURSE)
    assert isinstance(result.ack, Reply)
    assert result.ack.summary


def test_control_characters_are_refused_before_anything_is_stored(
    services: Services, sessions: sessionmaker[Session]
) -> None:
    code = registered(services)
    before = rows(sessions)
    result = tox(services, f'assess {code} {CRS2} note="a\x00b"')
    assert_error(result.ack, "control character")
    assert rows(sessions) == before


def test_a_back_dated_dose_is_shown_at_its_time(services: Services, clock: FakeClock) -> None:
    code = registered(services)
    result = tox(services, f"give {code} dexamethasone 10mg route=iv at=07:15")
    assert result.ack.summary == f"{code}: recorded dexamethasone 10 mg IV at 2026-11-20 07:15 UTC"
    assert (
        "Corticosteroids: 10 mg dexamethasone-equivalent in total, 10 mg in the last 24 h; "
        "latest dexamethasone 10 mg IV at 2026-11-20 07:15 UTC"
    ) in result.ack.as_text()  # a steroid's acknowledgement shows the steroid exposure
    clock.advance(minutes=1)
    future = tox(
        services,
        f"give {code} dexamethasone 10mg at={(clock.now() + timedelta(hours=1)).isoformat()}",
    )
    assert_error(future.ack, "is in the future")
