"""The console front end: ``/tox`` lines typed (or piped) in, the same replies Slack shows, as text.

``toxbot console`` and ``toxbot run`` without Slack tokens start it; ``toxbot demo`` drives it
with a script. It calls the same interpreter (``bot.commands``) and services as Slack, so what a
team sees here is what it sees in the channel: the acknowledgement first, then the reply the
case's thread would get. Piped input runs unattended: the prompt and banner go only to a
terminal. This module is light at import (argparse only): the database loads when a command runs.

Example::

    $ printf 'help\\nnew product=axi-cel infused=2026-11-20T09:30 weight=72\\n' | toxbot console
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING, Final, TextIO

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.replies import CommandResult
    from bot.services.api import Actor, Services
    from bot.settings import Settings

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
PROMPT: Final = "tox> "
QUIT: Final = frozenset({"quit", "exit", "/tox quit"})
THREAD_RULE: Final = "── in the case's thread ──"
FORM_HINT: Final = (
    "The {what} form opens in Slack; here, type: assess {code} field=value ... "
    "(for example: assess {code} temp=38.9 bp=normal o2=ra ice=10 loc=alert signs=none)"
)
BANNER: Final = (
    "toxbot console: type /tox commands (with or without /tox); 'help' lists them, "
    "'quit' or Ctrl-D ends.\n"
)


def add_console_parsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``console``, ``run`` and ``demo``."""
    console = subparsers.add_parser(
        "console",
        help="type /tox commands at a prompt (or pipe them in), on the configured database",
        description="The console front end: the same /tox lines as Slack, answered with the same "
        "replies as text. Reads piped stdin too, so a script runs unattended. Acts as an admin "
        "unless --as names a member, whose role is then checked.",
        epilog="example: echo 'help' | toxbot console",
    )
    console.add_argument(
        "--as", dest="as_user", metavar="U123", help="act as this Slack user, with role checks"
    )
    subparsers.add_parser(
        "run",
        help="run the bot: Slack when SLACK_BOT_TOKEN is set, otherwise the console",
        description="Run toxbot. With SLACK_BOT_TOKEN set it serves Slack (Socket Mode when "
        "SLACK_APP_TOKEN is set, otherwise HTTP); without it, it starts the console.",
    )
    subparsers.add_parser(
        "demo",
        help="a scripted refractory-CRS case over 48 h on a throw-away database",
        description="Run a scripted case through the console front end: registration, "
        "assessments over 48 h, tocilizumab to its limit, dexamethasone, the refractory flag "
        "and its escalation ladder. Uses a temporary SQLite database and a scripted clock; "
        "touches nothing else.",
    )


def run_console_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``toxbot console [--as U123]`` on the configured database."""
    from bot.settings import Settings

    settings = Settings()
    return start_console(settings, stdin=sys.stdin, stdout=stdout, stderr=stderr, user=args.as_user)


def run_bot(stdout: TextIO, stderr: TextIO) -> int:
    """``toxbot run``: Slack when ``SLACK_BOT_TOKEN`` is set, otherwise the console."""
    from bot.settings import Settings

    settings = Settings()
    if settings.slack_bot_token is None:
        if sys.stdin.isatty():
            stderr.write("SLACK_BOT_TOKEN is not set: starting the console front end.\n")
        return start_console(settings, stdin=sys.stdin, stdout=stdout, stderr=stderr, user=None)
    try:
        server = importlib.import_module("bot.serve")
    except ModuleNotFoundError as exc:
        if exc.name != "bot.serve":
            raise
        stderr.write(
            "toxbot run: SLACK_BOT_TOKEN is set, but this install has no Slack server "
            "(bot/serve.py). Unset SLACK_BOT_TOKEN to use the console, or update toxbot.\n"
        )
        return EXIT_FAILED
    status = server.serve(settings)
    return status if isinstance(status, int) else EXIT_OK


def start_console(
    settings: Settings, *, stdin: TextIO, stdout: TextIO, stderr: TextIO, user: str | None
) -> int:
    """Build the services on ``settings`` and run the console loop until ``quit`` or EOF."""
    from zoneinfo import ZoneInfo

    from bot.app import build_services, start_console_reminders
    from bot.services.api import Actor
    from bot.services.errors import ServiceError

    try:
        services = build_services(settings)
    except ServiceError as exc:
        stderr.write(f"toxbot console: {exc.message}\n")
        return EXIT_FAILED
    actor = Actor(user, "console") if user else Actor("console", "console", trusted=True)
    zone = ZoneInfo(settings.toxbot_timezone)
    # Reminders print here as they fire (TOXBOT_REMINDERS=off: not at all).
    running = start_console_reminders(settings, services, stdout)
    try:
        return console_loop(services, actor, zone=zone, stdin=stdin, stdout=stdout, stderr=stderr)
    finally:
        if running is not None:
            running.stop()


def console_loop(
    services: Services,
    actor: Actor,
    *,
    zone: ZoneInfo,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Read lines until ``quit`` or EOF; answer each. The prompt goes only to a terminal."""
    interactive = stdin.isatty()
    if interactive:
        stderr.write(BANNER)
    while True:
        if interactive:
            stderr.write(PROMPT)
            stderr.flush()
        line = stdin.readline()
        if not line:
            break
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.lower() in QUIT:
            break
        answer(services, actor, text, zone=zone, stdout=stdout)
    if interactive:
        stderr.write("\n")
    return EXIT_OK


def answer(services: Services, actor: Actor, line: str, *, zone: ZoneInfo, stdout: TextIO) -> None:
    """Answer one line and print it: the acknowledgement, then the thread reply or a form hint."""
    from bot.commands import run_line

    show(run_line(services, actor, line, zone=zone), stdout)


def show(result: CommandResult, stdout: TextIO) -> None:
    """Print a command's result as the console shows it."""
    stdout.write(result.ack.as_text() + "\n")
    if result.form is not None:
        what = "assessment" if result.form.kind.value.startswith("assess") else "dose"
        stdout.write(FORM_HINT.format(what=what, code=result.form.case_code) + "\n")
    if result.thread is not None:
        stdout.write(f"\n{THREAD_RULE}\n{result.thread.as_text()}\n")
    stdout.write("\n")
    stdout.flush()
