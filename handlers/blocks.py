"""Block Kit rendering of a :class:`~bot.replies.Reply`: the Slack dress of what toxbot says.

Pure functions, no Slack client: ``render_message`` gives the ``{"text", "blocks"}`` payload for
``chat.postMessage``, ``respond`` or an ``ack``; ``render_home`` gives the App Home view.

Two promises hold by construction, not by hoping the reply is small or polite:

* **Text stays text.** Reply lines are plain text (some of it typed by a clinician: a note, a
  case label). Every line is escaped for mrkdwn (``&``, ``<``, ``>``), so ``<!channel>`` or
  ``<@U1>`` shows as typed and never pings anyone; formatting characters (``*``, ``_``, ``~``,
  a backtick, a leading ``>``) are swapped for look-alikes that Slack does not parse, so a note
  cannot bold, strike or quote the grades around it; and text objects are ``verbatim`` so Slack
  does not link-ify ``@here`` or ``#channel`` either.
* **Slack's limits are never exceeded.** Long sections are split at line boundaries, long
  context lines are split over elements and blocks, buttons are spread over actions blocks, and a
  reply with more blocks than a message allows is packed tighter (sources as italic lines under
  their section, then sections run together), and only then cut with a visible "… more in the
  summary" line, so nothing is silently dropped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from bot.replies import Button, Reply, Section, Tone

# Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_MESSAGE_BLOCKS: Final = 50
MAX_SECTION_TEXT: Final = 3000
MAX_CONTEXT_ELEMENTS: Final = 10
MAX_CONTEXT_TEXT: Final = 2000  # per element; kept under the 3,000 of a text object
MAX_ACTIONS_ELEMENTS: Final = 25
MAX_BUTTON_TEXT: Final = 75
MAX_BUTTON_VALUE: Final = 2000
MAX_HEADER_TEXT: Final = 150
MAX_FALLBACK_TEXT: Final = 3000  # Slack truncates ``text`` at 40,000; a fallback is a summary

_TONE_MARK: Final = {Tone.INFO: "", Tone.WARNING: ":warning: ", Tone.ERROR: ":x: "}

# mrkdwn's control characters; Slack has no escape for the formatting ones, so they become
# look-alikes it does not parse (the approach jsx-slack's <Escape> takes).
_ENTITIES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LOOKALIKES: Final = {"*": "\u2217", "~": "\u223c", "`": "\u02cb", "_": "\u02cd"}
# An underscore between two letters or digits (``room_air``) cannot format, so it stays.
_CONTROL: Final = re.compile(r"[&<>*~`]|(?<![^\W_])_|_(?![^\W_])")
# Slack quotes a line starting with "&gt;" as it would ">"; a soft hyphen in front stops it.
_LEADING_QUOTE: Final = re.compile(r"^(\s*)&gt;", re.MULTILINE)
_ENTITY_TAIL: Final = re.compile(r"&[a-z]{0,3}$")
_SPECIAL: Final = frozenset("&<>*~`_")  # a text with none of these is its own escape


@functools.lru_cache(maxsize=8192)
def escape_mrkdwn(text: str) -> str:
    """``text`` as mrkdwn that shows exactly what was typed: no mention, link or formatting.

    ``&``, ``<`` and ``>`` become entities (Slack's own escaping); ``*``, ``~`` and backticks,
    and underscores that could open or close italics (not those inside words such as
    ``room_air``), become look-alike characters; a line starting with ``>`` gets a soft hyphen.

    Cached: most of a reply's lines (guidance, rules, sources) are the same in every reply.
    """
    if _SPECIAL.isdisjoint(text):
        return text
    escaped = _CONTROL.sub(lambda m: _ENTITIES.get(m[0]) or _LOOKALIKES[m[0]], text)
    return _LEADING_QUOTE.sub("\\1\u00ad&gt;", escaped) if "&gt;" in escaped else escaped


def escape_text(text: str) -> str:
    """Plain fallback ``text``: only the entities, since Slack parses mentions there too."""
    return "".join(_ENTITIES.get(char, char) for char in text)


def slack_length(text: str) -> int:
    """Length as Slack may count it (UTF-16 code units): never less than ``len(text)``."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------------------------
# The message


def render_message(reply: Reply) -> dict[str, Any]:
    """The reply as a message payload: ``{"text": fallback, "blocks": [...]}``.

    The fallback is the escaped one-line summary (what notifications and screen readers show);
    the blocks hold everything, within Block Kit's limits whatever the reply's size.
    """
    # Buttons never crowd out the reply: at least the summary and the "more" line stay.
    actions = list(_actions_blocks(reply.buttons))[: MAX_MESSAGE_BLOCKS - 2]
    room = MAX_MESSAGE_BLOCKS - len(actions)
    # Each layout is tighter than the one before; the first that fits is used, and only when
    # none does is the reply cut, with a line that says so.
    for layout in (_section_blocks, _sourced_blocks, _packed_blocks):
        content = [_summary_block(reply), *layout(reply.sections)]
        if len(content) <= room:
            break
    else:
        content = [*content[: room - 1], _more_block(reply)]
    return {"text": _fallback(reply), "blocks": content + actions}


def _fallback(reply: Reply) -> str:
    summary = " ".join(reply.summary.split()) or "toxbot"
    return _cut(escape_text(summary), MAX_FALLBACK_TEXT)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _summary_block(reply: Reply) -> dict[str, Any]:
    text = _TONE_MARK[reply.tone] + (escape_mrkdwn(reply.summary.strip()) or "toxbot")
    return _section(_cut(text, MAX_SECTION_TEXT))


def _more_block(reply: Reply) -> dict[str, Any]:
    where = f" (/tox summary {escape_mrkdwn(reply.case_code)})" if reply.case_code else ""
    return _section(_cut(f"… more in the summary{where}", MAX_SECTION_TEXT))


def _section_blocks(sections: Iterable[Section]) -> Iterator[dict[str, Any]]:
    """One section block (or several, when long) per section, then its context blocks."""
    for section in sections:
        for text in _chunks(_section_lines(section), MAX_SECTION_TEXT):
            yield _section(text)
        yield from _context_blocks(section.context)


def _sourced_blocks(sections: Sequence[Section]) -> Iterator[dict[str, Any]]:
    """One block per section (more only when long): its context as italic lines under it."""
    for section in sections:
        for text in _chunks(_section_lines(section) + _context_lines(section), MAX_SECTION_TEXT):
            yield _section(text)


def _packed_blocks(sections: Sequence[Section]) -> Iterator[dict[str, Any]]:
    """Every section in as few blocks as fit, a blank line between sections."""
    lines: list[str] = []
    for section in sections:
        own = _section_lines(section) + _context_lines(section)
        if lines and own:
            lines.append("")
        lines.extend(own)
    for text in _chunks(lines, MAX_SECTION_TEXT):
        yield _section(text)


def _context_lines(section: Section) -> list[str]:
    return [
        f"_({escape_mrkdwn(' '.join(line.split()))})_" for line in section.context if line.strip()
    ]


def _section_lines(section: Section) -> list[str]:
    heading = escape_mrkdwn(" ".join(section.heading.split())) if section.heading else ""
    lines = [f"*{heading}*"] if heading else []
    lines.extend(escape_mrkdwn(line) for part in section.lines for line in part.splitlines())
    return lines


def _chunks(lines: Iterable[str], limit: int) -> Iterator[str]:
    """Join lines into texts of at most ``limit``, splitting only an over-long line itself."""
    current: list[str] = []
    size = 0
    for line in lines:
        for piece in _split(line, limit):
            added = slack_length(piece) + (1 if current else 0)
            if current and size + added > limit:
                yield from _non_blank("\n".join(current))
                current, size = [], 0
                added = slack_length(piece)
            current.append(piece)
            size += added
    if current:
        yield from _non_blank("\n".join(current))


def _non_blank(text: str) -> Iterator[str]:
    # Slack refuses a section whose text is empty or only whitespace.
    if text.strip():
        yield text


def _split(text: str, limit: int) -> Iterator[str]:
    """Pieces of ``text`` within ``limit``, never cutting an ``&amp;``-style entity in two."""
    while slack_length(text) > limit:
        cut = _fit(text, limit)
        tail = _ENTITY_TAIL.search(text[:cut])
        if tail is not None and tail.start() > 0:
            cut = tail.start()
        yield text[:cut]
        text = text[cut:]
    yield text


def _fit(text: str, limit: int) -> int:
    """The longest prefix of ``text`` within ``limit`` UTF-16 units (at least one character)."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return max(index, 1)
    return len(text)


def _cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` with an ellipsis, never cutting an entity in two."""
    if slack_length(text) <= limit:
        return text
    return next(_split(text, limit - 1)) + "…"


def _context_blocks(lines: Sequence[str]) -> Iterator[dict[str, Any]]:
    elements = [
        _mrkdwn(piece)
        for line in lines
        for piece in _split(escape_mrkdwn(" ".join(line.split())), MAX_CONTEXT_TEXT)
        if piece.strip()
    ]
    for start in range(0, len(elements), MAX_CONTEXT_ELEMENTS):
        yield {"type": "context", "elements": elements[start : start + MAX_CONTEXT_ELEMENTS]}


def _actions_blocks(buttons: Sequence[Button]) -> Iterator[dict[str, Any]]:
    """Buttons in actions blocks: at most 25 each, and no action id twice in one block."""
    blocks: list[list[dict[str, Any]]] = []
    for button in buttons:
        if len(button.value) > MAX_BUTTON_VALUE or not button.value:
            continue  # a cut case code would act on the wrong case; no button is safer
        element = _button(button)
        home = next(
            (
                block
                for block in blocks
                if len(block) < MAX_ACTIONS_ELEMENTS
                and all(e["action_id"] != element["action_id"] for e in block)
            ),
            None,
        )
        if home is None:
            blocks.append([element])
        else:
            home.append(element)
    for elements in blocks:
        yield {"type": "actions", "elements": elements}


def _button(button: Button) -> dict[str, Any]:
    label = " ".join(button.label.split()) or button.action_id.value
    element: dict[str, Any] = {
        "type": "button",
        "action_id": button.action_id.value,
        "text": {"type": "plain_text", "text": _cut(label, MAX_BUTTON_TEXT), "emoji": False},
        "value": button.value,
    }
    if button.primary:
        element["style"] = "primary"
    return element


# ---------------------------------------------------------------------------------------------
# App Home

HOME_HELP: Final = (
    "/tox new CASE product=NAME infused=YYYY-MM-DD weight=KG",
    "/tox assess CASE temp=39.2 bp=low pressors=1 o2=nc:4 ice=7 (no fields: opens the form)",
    "/tox give CASE DRUG DOSEmg route=iv at=HH:MM",
    "/tox labs CASE ferritin=.. crp=.. fibrinogen=..",
    "/tox summary CASE",
    "/tox due [mine|CASE]",
    "/tox close CASE outcome=...",
    "/tox report [from=DATE] [to=DATE] [product=NAME] [csv]",
    "/tox role @user nurse|clinician|lead|admin",
    "/tox help",
)


def render_home(protocol_label: str | None = None) -> dict[str, Any]:
    """The App Home tab: what toxbot is, that it is decision support, and the ``/tox`` commands.

    ``protocol_label`` (e.g. ``toxbot-default 2026.1 (UNAPPROVED)``) is shown when given, so a
    team sees which protocol its guidance follows before it asks.
    """
    about = (
        "toxbot grades cytokine release syndrome (CRS) and immune effector cell-associated "
        "neurotoxicity syndrome (ICANS) with the ASTCT 2019 consensus criteria, and offers "
        "your protocol's guidance. It is decision support: the treating clinician decides. "
        "Anything not recorded is shown as not assessed, never as normal."
    )
    commands = "\n".join(f"`{command}`" for command in HOME_HELP)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "toxbot", "emoji": False}},
        _section(escape_mrkdwn(about)),
        {"type": "divider"},
        _section(_cut("*Commands*\n" + commands, MAX_SECTION_TEXT)),
    ]
    context = [
        "Cases are known only by their code (e.g. CT-7K4Q): never enter a name, MRN or date "
        "of birth."
    ]
    if protocol_label:
        context.append(f"Protocol: {protocol_label}")
    blocks.extend(_context_blocks(context))
    return {"type": "home", "blocks": blocks}
