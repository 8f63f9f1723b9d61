"""The ``toxbot`` command line.

Subcommands import what they need when they run, so ``toxbot grade`` starts fast and never loads
Slack, the database or the scheduler (design §1: nothing runs at import time).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from bot import __version__

if TYPE_CHECKING:
    from grading import FieldError

EXIT_OK = 0
EXIT_INVALID_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="toxbot",
        description="Grade CRS and ICANS after CAR T-cell therapy (ASTCT 2019) and support the "
        "team that manages them.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    grade = commands.add_parser(
        "grade",
        help="grade one assessment (JSON on stdin, or --text) and print the result as JSON",
        description="Grade one assessment. Reads a JSON object with the fields of design §4 on "
        "stdin, or the text grammar with --text. Prints {crs, icans, engine} as JSON. Exit "
        "status 2 on invalid input, with a message naming each bad field.",
        epilog='example: toxbot grade --text "temp=39.4 pressors=1 o2=nc:3 ice=7 loc=alert '
        'signs=none"',
    )
    grade.add_argument("--text", help='an assessment line, e.g. "temp=102.6F bp=low o2=nc:4"')
    grade.add_argument("--compact", action="store_true", help="print JSON on one line")

    advise = commands.add_parser(
        "advise",
        help="advise on a case (its history as JSON on stdin) under the protocol; JSON out",
        description="Read a case's history and the moment to advise at as JSON on stdin "
        '({"patient": {...}, "assessments": [...], "doses": [...], "labs": [...], "now": ISO}) '
        "and print the grades, refractory flags, the tocilizumab ledger, steroid exposure, "
        "recommendations with their sources and the next reassessment. Exit status 2 on "
        "invalid input, with a message naming each bad field.",
    )
    advise.add_argument(
        "--protocol", help="protocol file (default: $TOXBOT_PROTOCOL, else the built-in default)"
    )
    advise.add_argument("--compact", action="store_true", help="print JSON on one line")

    from bot.cli_audit import add_audit_parser  # each is light: argparse only
    from bot.cli_case import add_case_parsers
    from bot.cli_protocol import add_protocol_parser
    from bot.console import add_console_parsers

    add_protocol_parser(commands)
    add_case_parsers(commands)
    add_audit_parser(commands)
    add_console_parsers(commands)
    commands.add_parser(
        "serve",
        help="run the Slack app: Socket Mode with SLACK_APP_TOKEN, else HTTP on TOXBOT_PORT",
        description="Run the Slack app. With SLACK_APP_TOKEN set it connects over Socket Mode "
        "(no public URL); otherwise it serves HTTP on TOXBOT_PORT: POST /slack/events (signed "
        "with SLACK_SIGNING_SECRET), GET /healthz and GET /metrics. Needs SLACK_BOT_TOKEN.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``toxbot`` console script."""
    try:
        return _run(argv)
    except BrokenPipeError:  # the reader went away (``toxbot advise | head``): nothing to say
        sys.stderr.close()
        return EXIT_OK


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from grading.version import ENGINE_VERSION

        print(f"toxbot {__version__} ({ENGINE_VERSION})")
        return EXIT_OK
    if args.command == "grade":
        return grade_command(
            args.text, compact=args.compact, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr
        )
    if args.command == "case":
        from bot.cli_case import run_case

        return run_case(args, sys.stdout, sys.stderr)
    if args.command == "db":
        from bot.cli_case import run_db

        return run_db(args, sys.stdout, sys.stderr)
    if args.command == "audit":
        from bot.cli_audit import run_audit

        return run_audit(args, sys.stdout, sys.stderr)
    if args.command == "protocol":
        from bot.cli_protocol import run_protocol

        return run_protocol(args, sys.stdout, sys.stderr)
    if args.command == "console":
        from bot.console import run_console_command

        return run_console_command(args, sys.stdout, sys.stderr)
    if args.command == "run":
        from bot.console import run_bot

        return run_bot(sys.stdout, sys.stderr)
    if args.command == "serve":
        from bot.serve import serve
        from bot.settings import Settings

        return serve(Settings())
    if args.command == "demo":
        from bot.demo import run_demo

        return run_demo(sys.stdout)
    if args.command == "advise":
        return advise_command(
            args.protocol,
            compact=args.compact,
            stdin=sys.stdin,
            stdout=sys.stdout,
            stderr=sys.stderr,
        )
    parser.print_help()
    return EXIT_OK


def grade_command(
    text: str | None, *, compact: bool, stdin: TextIO, stdout: TextIO, stderr: TextIO
) -> int:
    """``toxbot grade``: one assessment in, the graded result out as JSON (design §4)."""
    from grading import InputError, assessment_from_json, grade, parse_assessment
    from grading.grammar import stated_mismatches

    extra: dict[str, Any] = {}
    try:
        if text is not None:
            parsed = parse_assessment(text)
            assessment = parsed.assessment
        else:
            if stdin.isatty():
                stderr.write("toxbot grade: give an assessment as JSON on stdin, or --text\n")
                return EXIT_INVALID_INPUT
            assessment = assessment_from_json(stdin.read())
    except InputError as exc:
        _report_errors(exc.errors, stdout, stderr, compact=compact, command="grade")
        return EXIT_INVALID_INPUT

    result = grade(assessment)
    if text is not None:
        extra["interpretations"] = list(parsed.interpretations)
        extra["stated_mismatches"] = list(stated_mismatches(result, parsed.stated))
        extra["at"] = parsed.at.isoformat() if parsed.at is not None else None
    _write_json({**result.as_dict(), **extra}, stdout, compact=compact)
    return EXIT_OK


def advise_command(
    protocol_path: str | None, *, compact: bool, stdin: TextIO, stdout: TextIO, stderr: TextIO
) -> int:
    """``toxbot advise``: a case's history in, the engine's advice out as JSON (issue 3)."""
    from bot.protocol_files import load_protocol
    from grading import InputError
    from grading.case import advise_request_from_json
    from grading.guidance import advice_as_dict, advise
    from grading.state import derive_state

    if stdin.isatty():
        stderr.write("toxbot advise: give the case as JSON on stdin\n")
        return EXIT_INVALID_INPUT
    try:
        request = advise_request_from_json(stdin.read())
        protocol = load_protocol(protocol_path)
    except InputError as exc:
        _report_errors(exc.errors, stdout, stderr, compact=compact, command="advise")
        return EXIT_INVALID_INPUT
    state = derive_state(request.history, protocol, request.now)
    _write_json(advice_as_dict(advise(state, protocol, request.now)), stdout, compact=compact)
    return EXIT_OK


def _report_errors(
    errors: Sequence[FieldError], stdout: TextIO, stderr: TextIO, *, compact: bool, command: str
) -> None:
    for error in errors:
        stderr.write(f"toxbot {command}: error: {error.message()}\n")
    _write_json({"errors": [error.as_dict() for error in errors]}, stdout, compact=compact)


def _write_json(document: dict[str, Any], stdout: TextIO, *, compact: bool) -> None:
    json.dump(document, stdout, ensure_ascii=False, indent=None if compact else 2)
    stdout.write("\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
