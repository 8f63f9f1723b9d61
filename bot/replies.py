"""What toxbot says back, before any front end dresses it: the one reply model.

Every front end answers the same ``/tox`` line with the same content: the console prints a
:class:`Reply` as text, the Slack handlers render it as Block Kit (``handlers.blocks``). Lines are
plain text, never markup: each renderer escapes them for its medium, so a note typed as
``<!channel>`` can never become a mention. A :class:`CommandResult` separates what answers at once
(the acknowledgement: the grades, in milliseconds) from what follows (the full reply in the case's
thread, posted off the hot path) and from a form to open instead of a reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Visibility(StrEnum):
    """Who sees a reply."""

    EPHEMERAL = "ephemeral"  # only the person who asked (errors, help, denials)
    THREAD = "thread"  # everyone in the case's thread (what was recorded and its guidance)


class Tone(StrEnum):
    """What kind of reply it is, for a renderer that marks errors and warnings."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class ActionId(StrEnum):
    """Ids of the buttons a reply can carry; a handler re-checks the role on every press."""

    RECORD_DOSE = "dose.open"
    REASSESS = "assess.open"
    SUMMARY = "summary.show"


class FormKind(StrEnum):
    """Forms a command can open instead of answering (``/tox assess CASE`` with no fields)."""

    ASSESSMENT = "assess.modal"
    DOSE = "dose.modal"

    @property
    def records(self) -> str:
        """The action a submission of this form records, whose role opening it needs."""
        return "assessment.record" if self is FormKind.ASSESSMENT else "dose.record"


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a reply; ``value`` is the case code it acts on."""

    action_id: ActionId
    label: str
    value: str
    primary: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    """A block of a reply: an optional heading, its lines, and context lines (sources, versions)."""

    heading: str | None
    lines: tuple[str, ...]
    context: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """One message: a one-line summary (the plain-text fallback) and its sections and buttons."""

    summary: str
    sections: tuple[Section, ...] = ()
    buttons: tuple[Button, ...] = ()
    visibility: Visibility = Visibility.EPHEMERAL
    tone: Tone = Tone.INFO
    case_code: str | None = None  # the case whose thread a THREAD reply belongs in

    def as_text(self) -> str:
        """The reply as plain text: the summary, each section, and the buttons' labels."""
        parts = [self.summary]
        for section in self.sections:
            block = [section.heading] if section.heading else []
            block.extend(section.lines)
            block.extend(f"  ({line})" for line in section.context)
            parts.append("\n".join(block))
        if self.buttons:
            parts.append("[" + "] [".join(button.label for button in self.buttons) + "]")
        return "\n\n".join(part for part in parts if part)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle as plain strings and tuples: ``toxbot serve`` hands every thread reply to its
        poster process (``handlers.post_process``), and a slots dataclass's own pickling (its
        fields looked up for each object, each enum by its own reduce) cost the serving process
        about ten times as much for a reply of twenty sections."""
        sections = tuple((s.heading, s.lines, s.context) for s in self.sections)
        buttons = tuple((b.action_id.value, b.label, b.value, b.primary) for b in self.buttons)
        return _unpickled_reply, (
            self.summary,
            sections,
            buttons,
            self.visibility.value,
            self.tone.value,
            self.case_code,
        )


def _unpickled_reply(
    summary: str,
    sections: tuple[tuple[str | None, tuple[str, ...], tuple[str, ...]], ...],
    buttons: tuple[tuple[str, str, str, bool], ...],
    visibility: str,
    tone: str,
    case_code: str | None,
) -> Reply:
    """The :class:`Reply` that :meth:`Reply.__reduce__` pickled."""
    return Reply(
        summary,
        tuple(Section(heading, lines, context) for heading, lines, context in sections),
        tuple(Button(ActionId(a), label, value, primary) for a, label, value, primary in buttons),
        Visibility(visibility),
        Tone(tone),
        case_code,
    )


@dataclass(frozen=True, slots=True)
class FormRequest:
    """Open a form instead of replying; ``case_code`` is the case it records on."""

    kind: FormKind
    case_code: str


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a ``/tox`` line produced: the answer now, the thread post to follow, or a form."""

    ack: Reply
    thread: Reply | None = None
    form: FormRequest | None = None
