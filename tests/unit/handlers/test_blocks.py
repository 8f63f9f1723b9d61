"""Block Kit rendering of replies: structure, escaping, Slack's limits, the engine's advice."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.protocol_files import load_protocol
from bot.replies import ActionId, Button, Reply, Section, Tone, Visibility
from grading.case import CaseHistory, Dose, Patient, TimedAssessment
from grading.guidance import advise
from grading.guidance_types import Advice
from grading.state import derive_state
from handlers.blocks import (
    MAX_SECTION_TEXT,
    escape_mrkdwn,
    render_home,
    render_message,
)
from tests.slack.blockkit import assert_valid_message, assert_valid_view
from tests.unit.grading.clinical import NORMAL_NEURO_EXAM

CODE = "CT-7K4Q"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def texts(payload: dict[str, Any]) -> list[str]:
    """Every mrkdwn/plain text in the blocks, in order."""
    out: list[str] = []
    for block in payload["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out.extend(e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn")
    return out


def all_text(payload: dict[str, Any]) -> str:
    return "\n".join(texts(payload))


def buttons(code: str = CODE) -> tuple[Button, ...]:
    return (
        Button(ActionId.RECORD_DOSE, "Record dose", code),
        Button(ActionId.REASSESS, "Reassess", code, primary=True),
        Button(ActionId.SUMMARY, "Summary", code),
    )


# ---------------------------------------------------------------------------------------------
# Structure


def test_a_reply_renders_summary_headed_sections_context_and_one_actions_block() -> None:
    reply = Reply(
        summary="CT-7K4Q day 3: CRS grade 2, ICANS grade 0",
        sections=(
            Section(
                "CRS grade 2",
                ("Fever 39.4 °C with hypotension not needing vasopressors", "Trend: worsening"),
                ("ASTCT 2019 (Lee et al.)",),
            ),
            Section(
                "Consider tocilizumab 8 mg/kg IV",
                ("560 mg = 8 mg/kg × 70 kg (max 800 mg)", "[UNVERIFIED] dose rule"),
                ("S3 p.4", "protocol toxbot-default 2026.1 (UNAPPROVED)"),
            ),
        ),
        buttons=buttons(),
        visibility=Visibility.THREAD,
        case_code=CODE,
    )
    payload = render_message(reply)
    assert_valid_message(payload)
    assert payload["text"] == "CT-7K4Q day 3: CRS grade 2, ICANS grade 0"
    kinds = [block["type"] for block in payload["blocks"]]
    assert kinds == ["section", "section", "context", "section", "context", "actions"]
    blocks = payload["blocks"]
    assert blocks[1]["text"]["text"] == (
        "*CRS grade 2*\nFever 39.4 °C with hypotension not needing vasopressors\nTrend: worsening"
    )
    assert blocks[3]["text"]["text"].splitlines()[2] == "[UNVERIFIED] dose rule"
    assert [e["text"] for e in blocks[4]["elements"]] == [
        "S3 p.4",
        "protocol toxbot-default 2026.1 (UNAPPROVED)",
    ]
    assert all(block["text"]["verbatim"] for block in blocks if block["type"] == "section")
    actions = blocks[-1]["elements"]
    assert [(b["action_id"], b["value"], b.get("style")) for b in actions] == [
        ("dose.open", CODE, None),
        ("assess.open", CODE, "primary"),
        ("summary.show", CODE, None),
    ]
    assert [b["text"]["text"] for b in actions] == ["Record dose", "Reassess", "Summary"]


def test_a_summary_only_reply_is_one_section_and_errors_and_warnings_are_marked() -> None:
    assert render_message(Reply(summary="Case closed"))["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Case closed", "verbatim": True}}
    ]
    error = render_message(Reply(summary="temp=50: outside 30-45 °C", tone=Tone.ERROR))
    warning = render_message(Reply(summary="Unapproved protocol", tone=Tone.WARNING))
    assert error["blocks"][0]["text"]["text"] == ":x: temp=50: outside 30-45 °C"
    assert warning["blocks"][0]["text"]["text"] == ":warning: Unapproved protocol"
    assert error["text"] == "temp=50: outside 30-45 °C"  # the fallback carries no emoji code


def test_empty_sections_and_blank_lines_make_no_blank_blocks() -> None:
    reply = Reply(
        summary="  ",
        sections=(Section(None, ()), Section(None, ("", "   ")), Section("", (), ("  ",))),
    )
    payload = render_message(reply)
    assert_valid_message(payload)
    assert payload["text"] == "toxbot"
    assert len(payload["blocks"]) == 1


# ---------------------------------------------------------------------------------------------
# Escaping: user text stays text


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("<!channel> please look", "&lt;!channel&gt; please look"),
        ("ask <@U123ABC>", "ask &lt;@U123ABC&gt;"),
        ("<!here|here>", "&lt;!here|here&gt;"),
        ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
        ("Tom & Jerry", "Tom &amp; Jerry"),
        ("&lt; already", "&amp;lt; already"),
        ("*bold* claim", "\u2217bold\u2217 claim"),
        ("_italic_", "\u02cditalic\u02cd"),
        ("~struck~", "\u223cstruck\u223c"),
        ("`code`", "\u02cbcode\u02cb"),
        ("> quoted", "\u00ad&gt; quoted"),
        ("room_air and baseline_capd", "room_air and baseline_capd"),
    ],
)
def test_user_text_shows_as_typed_and_never_mentions_links_or_formats(
    typed: str, shown: str
) -> None:
    reply = Reply(summary=typed, sections=(Section(typed, (typed,), (typed,)),))
    payload = render_message(reply)
    assert_valid_message(payload)
    summary, section, context = payload["blocks"]
    assert summary["text"]["text"] == shown
    assert section["text"]["text"] == f"*{shown}*\n{shown}"
    assert context["elements"][0]["text"] == shown
    for text in texts(payload):
        assert "<" not in text
        assert ">" not in text
        assert not re.search(r"&(?!amp;|lt;|gt;)", text)


def test_the_fallback_text_cannot_ping_either() -> None:
    payload = render_message(Reply(summary="<!channel> CRS 3 <@U1>"))
    assert payload["text"] == "&lt;!channel&gt; CRS 3 &lt;@U1&gt;"


def test_a_note_cannot_bold_strike_or_quote_the_grades_around_it() -> None:
    note = "*ignore the grade* ~CRS 3~\n> all fine"
    payload = render_message(Reply(summary="CRS 3", sections=(Section("Note", (note,)),)))
    text = payload["blocks"][1]["text"]["text"]
    assert text.startswith("*Note*\n")  # our heading is the only formatting left
    body = text.removeprefix("*Note*\n")
    assert not set(body) & set("*~`<>")
    assert body.splitlines()[-1].startswith("\u00ad&gt;")


# ---------------------------------------------------------------------------------------------
# Limits


def test_a_long_section_is_split_at_line_boundaries_within_3000_characters() -> None:
    lines = tuple(f"line {n}: " + "x" * 90 for n in range(100))  # about 10,000 characters
    payload = render_message(Reply(summary="long", sections=(Section("Ledger", lines),)))
    assert_valid_message(payload)
    sections = [b["text"]["text"] for b in payload["blocks"][1:]]
    assert len(sections) == 4
    assert all(len(text) <= MAX_SECTION_TEXT for text in sections)
    assert "\n".join(sections) == "*Ledger*\n" + "\n".join(lines)  # nothing lost, nothing cut


def test_an_over_long_line_is_cut_without_breaking_an_entity() -> None:
    line = "&" * 2000  # 10,000 characters once escaped
    payload = render_message(Reply(summary="x", sections=(Section(None, (line,)),)))
    assert_valid_message(payload)
    pieces = [b["text"]["text"] for b in payload["blocks"][1:]]
    assert all(re.fullmatch("(&amp;)+", piece) for piece in pieces)
    assert "".join(pieces) == "&amp;" * 2000


def test_astral_characters_count_double_so_slack_never_sees_too_many() -> None:
    line = "\U0001f9ea" * 2000  # 4,000 UTF-16 code units
    payload = render_message(Reply(summary="x", sections=(Section(None, (line,)),)))
    assert_valid_message(payload)
    assert "".join(b["text"]["text"] for b in payload["blocks"][1:]) == line


def test_context_lines_spread_over_blocks_of_ten_elements() -> None:
    sources = tuple(f"S{n} p.{n}" for n in range(23))
    payload = render_message(Reply(summary="x", sections=(Section("Sources", ("see",), sources),)))
    assert_valid_message(payload)
    contexts = [b for b in payload["blocks"] if b["type"] == "context"]
    assert [len(b["elements"]) for b in contexts] == [10, 10, 3]
    assert [e["text"] for b in contexts for e in b["elements"]] == list(sources)


def test_many_sections_are_packed_tighter_before_anything_is_cut() -> None:
    sections = tuple(
        Section(f"Item {n}", (f"consider step {n}", "[UNVERIFIED]"), (f"S{n}",)) for n in range(40)
    )
    payload = render_message(Reply(summary="x", sections=sections, buttons=buttons()))
    assert_valid_message(payload)
    text = all_text(payload)
    assert "… more in the summary" not in text
    for n in range(40):  # every item and its source survive, as lines
        assert f"*Item {n}*\nconsider step {n}\n[UNVERIFIED]\n_(S{n})_" in text
    assert payload["blocks"][-1]["type"] == "actions"


def test_a_reply_too_big_for_one_message_ends_with_a_visible_more_line_and_keeps_its_buttons() -> (
    None
):
    sections = tuple(Section(f"Item {n}", ("y" * 2900,), ("S1",)) for n in range(80))
    reply = Reply(summary="x", sections=sections, buttons=buttons(), case_code=CODE)
    payload = render_message(reply)
    assert_valid_message(payload)
    blocks = payload["blocks"]
    assert len(blocks) == 50
    assert blocks[-2]["text"]["text"] == "… more in the summary (/tox summary CT-7K4Q)"
    assert blocks[-1]["type"] == "actions"
    assert len(blocks[-1]["elements"]) == 3


def test_buttons_keep_slack_limits_and_never_act_on_a_cut_case_code() -> None:
    many = tuple(
        Button(ActionId.SUMMARY, "Summary of a case " * 10, f"CT-{n:04d}") for n in range(30)
    )
    odd = (
        Button(ActionId.REASSESS, "Reassess", "C" * 2001),  # too long to send whole
        Button(ActionId.REASSESS, "Reassess", ""),
    )
    payload = render_message(Reply(summary="x", buttons=many + odd))
    assert_valid_message(payload)
    actions = [b for b in payload["blocks"] if b["type"] == "actions"]
    values = [e["value"] for b in actions for e in b["elements"]]
    assert values == [f"CT-{n:04d}" for n in range(30)]  # same action: one per block
    assert all(len(e["text"]["text"]) <= 75 for b in actions for e in b["elements"])


def test_even_a_flood_of_buttons_leaves_room_for_the_reply() -> None:
    flood = tuple(Button(ActionId.SUMMARY, "Summary", f"CT-{n:04d}") for n in range(60))
    sections = tuple(Section(f"Item {n}", ("y" * 2900,)) for n in range(10))
    payload = render_message(Reply(summary="CRS 2", sections=sections, buttons=flood))
    assert_valid_message(payload)
    blocks = payload["blocks"]
    assert blocks[0]["text"]["text"] == "CRS 2"
    assert blocks[1]["text"]["text"].startswith("… more in the summary")
    assert [b["type"] for b in blocks[2:]] == ["actions"] * 48


def test_packed_context_lines_stay_on_one_italic_line() -> None:
    sections = tuple(Section(f"Item {n}", ("x",), ("S1\np.4", "  ")) for n in range(30))
    payload = render_message(Reply(summary="x", sections=sections))
    assert_valid_message(payload)
    assert "_(S1 p.4)_" in all_text(payload)
    assert "_()_" not in all_text(payload)


# ---------------------------------------------------------------------------------------------
# Any reply at all


_TEXT = st.text(st.characters(codec="utf-8"), max_size=400)
_LONG = st.one_of(_TEXT, st.builds(lambda s, n: s * n, _TEXT, st.integers(1, 40)))
_SECTIONS = st.lists(
    st.builds(
        Section,
        st.one_of(st.none(), _TEXT),
        st.lists(_LONG, max_size=8).map(tuple),
        st.lists(_TEXT, max_size=14).map(tuple),
    ),
    max_size=70,
)
_BUTTONS = st.lists(
    st.builds(Button, st.sampled_from(ActionId), _TEXT, _TEXT, st.booleans()), max_size=30
)


@given(
    summary=_LONG,
    sections=_SECTIONS,
    buttons_=_BUTTONS,
    tone=st.sampled_from(Tone),
    code=st.one_of(st.none(), _TEXT),
)
def test_any_reply_renders_as_a_valid_message(
    summary: str,
    sections: list[Section],
    buttons_: list[Button],
    tone: Tone,
    code: str | None,
) -> None:
    reply = Reply(summary, tuple(sections), tuple(buttons_), tone=tone, case_code=code)
    payload = render_message(reply)
    assert_valid_message(payload)
    for text in [payload["text"], *texts(payload)]:
        assert "<" not in text
        assert ">" not in text


# ---------------------------------------------------------------------------------------------
# The real engine's advice


def _advice() -> Advice:
    protocol = load_protocol()
    assessment = TimedAssessment.model_validate(
        {
            "at": T0,
            "temperature_c": 39.4,
            "hypotension": True,
            "vasopressors": 0,
            "vasopressin": False,
            "oxygen": {"device": "nasal_cannula", "flow_l_min": 4},
            "ice": 7,
            "consciousness": "awakens_to_voice",
            **NORMAL_NEURO_EXAM,
        }
    )
    dose = Dose(at=T0 + timedelta(minutes=30), drug="tocilizumab", dose_mg=560, route="iv")
    history = CaseHistory(
        patient=Patient(
            age_years=54, weight_kg=70, product="axi-cel", infused_at=T0 - timedelta(days=3)
        ),
        assessments=(assessment,),
        doses=(dose,),
    )
    now = T0 + timedelta(hours=1)
    return advise(derive_state(history, protocol, now), protocol, now)


def _reply_from(advice: Advice) -> Reply:
    """A reply shaped as the command interpreter shapes one: each item with its sources."""
    sections = []
    for item in advice.recommendations:
        lines = [item.text]
        if item.dose is not None:
            lines.append(item.dose.arithmetic)
        if not item.available and item.availability:
            lines.append(f"Not offered now: {item.availability}")
        if item.unverified:
            lines.append("[UNVERIFIED] not yet checked against the source")
        heading = f"{item.toxicity.value.upper()}: {item.kind.value}"
        sections.append(Section(heading, tuple(lines), (*item.citation, item.protocol)))
    if advice.banner:
        sections.insert(0, Section(None, (advice.banner,)))
    sections.append(Section("Warnings", advice.warnings))
    return Reply(
        summary=f"{CODE}: guidance under {advice.protocol_id} {advice.protocol_version}",
        sections=tuple(sections),
        buttons=buttons(),
        visibility=Visibility.THREAD,
        case_code=CODE,
    )


def test_the_engines_advice_renders_with_every_item_its_sources_and_unverified_marks() -> None:
    advice = _advice()
    assert advice.recommendations, "the case should get guidance"
    reply = _reply_from(advice)
    payload = render_message(reply)
    assert_valid_message(payload)
    text = all_text(payload)
    for item in advice.recommendations:
        assert escape_mrkdwn(item.text) in text
        for citation in item.citation:
            assert escape_mrkdwn(citation) in text
    contexts = [
        e["text"] for b in payload["blocks"] if b["type"] == "context" for e in b["elements"]
    ]
    assert escape_mrkdwn(advice.recommendations[0].protocol) in contexts
    unverified = [item for item in advice.recommendations if item.unverified]
    assert unverified, "CRS grade 2 brings the dexamethasone step the protocol marks unverified"
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    for item in unverified:
        (shown,) = [s for s in sections if escape_mrkdwn(item.text) in s]
        assert "[UNVERIFIED] not yet checked against the source" in shown


# ---------------------------------------------------------------------------------------------
# App Home


def test_the_home_tab_is_a_valid_view_that_says_what_toxbot_is_and_lists_the_commands() -> None:
    view = render_home("toxbot-default 2026.1 (UNAPPROVED)")
    assert_valid_view(view)
    assert view["type"] == "home"
    text = "\n".join(
        b["text"]["text"] for b in view["blocks"] if b["type"] in {"section", "header"}
    )
    assert "decision support" in text
    assert "/tox assess CASE" in text
    assert "/tox help" in text
    context = [e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert "Protocol: toxbot-default 2026.1 (UNAPPROVED)" in context
    assert_valid_view(render_home())
