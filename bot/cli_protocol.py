"""``toxbot protocol check FILE`` and ``toxbot protocol show [--file FILE]`` (design §6).

``check`` is what an institution runs after editing its protocol: every error with its path in
the YAML, or, when the file is valid, its approval state and what it changes against the default.
``show`` prints the active protocol (the file to copy and edit).

Kept apart from ``bot/cli.py``, which wires it in with two calls::

    add_protocol_parser(commands)                     # in build_parser()
    if args.command == "protocol":                    # in main()
        return run_protocol(args, sys.stdout, sys.stderr)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, TextIO

if TYPE_CHECKING:  # the parser is built on every `toxbot` start; the schema loads on use only
    from grading.errors import FieldError
    from grading.protocol import Protocol

EXIT_OK: Final = 0
EXIT_INVALID_INPUT: Final = 2  # the same status ``toxbot grade`` uses for invalid input

# pydantic prefixes messages from validators with this; the rest of the line says it better.
_PYDANTIC_PREFIX: Final = "Value error, "


def add_protocol_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``protocol`` with its ``check`` and ``show`` subcommands; return the new parser.

    Parsed arguments carry ``command="protocol"`` (when the caller's subparsers use
    ``dest="command"``), ``protocol_command`` (``"check"``, ``"show"`` or ``None``) and ``file``.
    """
    protocol = subparsers.add_parser(
        "protocol",
        help="check an institution's protocol file, or show the active protocol",
        description="The protocol is the YAML file toxbot's guidance follows: drug limits, the "
        "steps offered per toxicity and grade, refractory definitions, the escalation ladder and "
        "the reassessment cadence. TOXBOT_PROTOCOL names an institution's own; otherwise the "
        "default shipped with toxbot is used.",
    )
    commands = protocol.add_subparsers(dest="protocol_command", metavar="SUBCOMMAND")
    check = commands.add_parser(
        "check",
        help="validate a protocol file and list what it changes against the default",
        description="Validate FILE. On success print its label, its approval state and what "
        "differs from the default protocol (exit status 0). On failure print one line per "
        "error, 'FILE: path.in.yaml: problem (value)', on stderr (exit status 2).",
    )
    check.add_argument("file", metavar="FILE", help="the protocol YAML file to check")
    show = commands.add_parser(
        "show",
        help="print the active protocol's YAML (copy it to start your own)",
        description="Print the active protocol's YAML: FILE if given, else the file "
        "TOXBOT_PROTOCOL names, else the default. A first comment line names its source and "
        "label.",
        epilog="example: toxbot protocol show > our-protocol.yaml",
    )
    show.add_argument("--file", metavar="FILE", default=None, help="show this file instead")
    return protocol


def run_protocol(
    args: argparse.Namespace,
    stdout: TextIO,
    stderr: TextIO,
    *,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run ``toxbot protocol check|show``; return the exit status (0 ok, 2 invalid).

    ``environ`` defaults to ``os.environ``; tests pass their own instead of patching it.
    """
    env = os.environ if environ is None else environ
    command = getattr(args, "protocol_command", None)
    if command == "check":
        return check_protocol(str(args.file), stdout, stderr)
    if command == "show":
        file = getattr(args, "file", None)
        return show_protocol(None if file is None else str(file), stdout, stderr, environ=env)
    stderr.write("toxbot protocol: choose a subcommand: check FILE, or show [--file FILE]\n")
    return EXIT_INVALID_INPUT


def check_protocol(file: str, stdout: TextIO, stderr: TextIO) -> int:
    """``toxbot protocol check FILE``: validate, then report approval and changes from default."""
    from bot.protocol_files import default_protocol_text, load_protocol
    from grading.protocol import ProtocolError, differences, parse_protocol

    try:
        protocol = load_protocol(file)
    except ProtocolError as exc:
        _write_errors(file, exc.errors, stderr)
        return EXIT_INVALID_INPUT
    default = parse_protocol(default_protocol_text())
    default_name = f"{default.id} {default.version}"
    stdout.write(f"{file}: valid protocol {protocol.label}\n")
    stdout.write(f"approval: {_approval(protocol)}\n")
    changes = differences(default, protocol)
    if not changes:
        stdout.write(f"no differences from the default ({default_name})\n")
        return EXIT_OK
    stdout.write(f"differences from the default ({default_name}): {len(changes)}\n")
    stdout.writelines(f"  {line}\n" for line in changes)
    return EXIT_OK


def show_protocol(
    file: str | None, stdout: TextIO, stderr: TextIO, *, environ: Mapping[str, str]
) -> int:
    """``toxbot protocol show``: the active protocol's YAML, after a comment naming its source.

    The file is validated first, so what is shown is what the bot would use; the text is printed
    as written, comments included, because it is the starting point for an institution's copy.
    """
    from bot.protocol_files import protocol_path, read_protocol_text
    from grading.protocol import ProtocolError, parse_protocol

    shown_as = str(protocol_path(file, environ=environ) or "default.yaml")
    try:
        text, source = read_protocol_text(file, environ=environ)
        protocol = parse_protocol(text)
    except ProtocolError as exc:
        _write_errors(shown_as, exc.errors, stderr)
        return EXIT_INVALID_INPUT
    stdout.write(f"# toxbot protocol {protocol.label}, from {source}\n")
    stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def _approval(protocol: Protocol) -> str:
    approval = protocol.approval
    if approval.approved:
        return f"approved by {approval.by} on {approval.approved_on}"
    return "NOT approved: every reply carries an unapproved-protocol banner"


def _write_errors(file: str, errors: Iterable[FieldError], stderr: TextIO) -> None:
    """One line per error: ``FILE: path.in.yaml: problem (value)``."""
    for error in errors:
        stderr.write(f"{file}: {error_line(error)}\n")


def error_line(error: FieldError) -> str:
    """``path.in.yaml: problem (value)``; the value is left out when it says nothing."""
    problem = error.problem.removeprefix(_PYDANTIC_PREFIX)
    # For a missing field pydantic's "value" is the whole enclosing mapping: noise, not help.
    value = "" if problem == "Field required" else error.value
    return f"{error.field}: {problem}" + (f" ({value})" if value else "")
