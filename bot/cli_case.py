"""Operator commands: ``toxbot case new|list|show|close`` and ``toxbot db upgrade``.

The operator's command line runs on the server, so it acts as a trusted admin (audited as
``operator``). Heavy modules load inside the commands: the parser is built on every start.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, Final, TextIO

if TYPE_CHECKING:
    from bot.db import models
    from bot.services.api import Services

EXIT_OK: Final = 0
EXIT_INVALID: Final = 2


def add_case_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``case`` (new, list, show, close) and ``db`` (upgrade)."""
    case = subparsers.add_parser("case", help="register, list, show and close cases")
    commands = case.add_subparsers(dest="case_command", metavar="SUBCOMMAND")
    new = commands.add_parser(
        "new",
        help="register a case: [CODE] product=NAME infused=YYYY-MM-DD[THH:MM] weight=KG ...",
        description="Register a case under a random pseudonymous code (or your site label, "
        "checked so it cannot be an MRN, a date or a name). Fields: product=, infused= (local "
        "time unless an offset is given), weight= (kg), age=, unit=, nurse=U123 (repeatable), "
        "channel=C123, dd=yes (developmental delay), capd= (baseline CAPD).",
        epilog="example: toxbot case new product=axi-cel infused=2026-11-20T09:30 weight=72 age=58",
    )
    new.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    new.add_argument("--json", action="store_true", help="print JSON")
    listing = commands.add_parser("list", help="list cases")
    listing.add_argument("--status", choices=("active", "closed"))
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = commands.add_parser("show", help="a case's grades, state and advice now")
    show.add_argument("code", metavar="CODE")
    show.add_argument("--json", action="store_true", help="print the advice JSON")
    close = commands.add_parser(
        "close",
        help="close a case: CODE outcome=recovered|discharged|transferred|death "
        "[cause=crs|icans|other]",
    )
    close.add_argument("code", metavar="CODE")
    close.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    close.add_argument("--json", action="store_true", help="print JSON")
    db = subparsers.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    db_commands.add_parser("upgrade", help="bring the database schema to the newest revision")


def run_db(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``toxbot db upgrade``."""
    if args.db_command != "upgrade":
        stderr.write("toxbot db: choose a subcommand: upgrade\n")
        return EXIT_INVALID
    from bot.db.engine import make_engine
    from bot.db.migrate import current_revision, upgrade
    from bot.settings import Settings

    engine = make_engine(Settings().database_url.get_secret_value())
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    stdout.write(f"database schema at revision {after} (was {before or 'empty'})\n")
    return EXIT_OK


def run_case(
    args: argparse.Namespace, stdout: TextIO, stderr: TextIO, services: Services | None = None
) -> int:
    """``toxbot case ...``; returns the exit status (2 for input a user can fix)."""
    from zoneinfo import ZoneInfo

    from bot.app import build_services
    from bot.case_text import parse_new_case
    from bot.services.api import OPERATOR
    from bot.services.errors import ServiceError
    from bot.settings import Settings
    from grading.errors import InputError
    from grading.guidance import advice_as_dict

    command = args.case_command
    if command is None:
        stderr.write("toxbot case: choose a subcommand: new, list, show, close\n")
        return EXIT_INVALID
    settings = Settings()
    try:
        services = services or build_services(settings)
        if command == "new":
            data, said = parse_new_case(list(args.fields), ZoneInfo(settings.toxbot_timezone))
            case = services.register_case(OPERATOR, data)
            _emit(
                stdout,
                args.json,
                {**_case_dict(case), "interpretations": said},
                [
                    f"registered {case.code}: {case.product}, "
                    f"infused {case.infused_at.isoformat()}, {case.weight_kg:g} kg",
                    *said,
                ],
            )
        elif command == "list":
            cases = services.list_cases(OPERATOR, status=args.status)
            _emit(
                stdout,
                args.json,
                {"cases": [_case_dict(c) for c in cases]},
                [
                    f"{c.code}  {c.status:<7} {c.product:<12} infused {c.infused_at.isoformat()}"
                    for c in cases
                ]
                or ["no cases"],
            )
        elif command == "show":
            view = services.show_case(OPERATOR, args.code)
            advice = advice_as_dict(view.advice)
            lines = [
                f"{view.case.code} ({view.case.status}), {view.case.product}, "
                f"day {view.state.days_since_infusion or 0:.1f} after infusion",
                f"CRS: {advice['crs']['summary'] if advice['crs'] else 'not assessed'}",
                f"ICANS: {advice['icans']['summary'] if advice['icans'] else 'not assessed'}",
                f"tocilizumab: {advice['tocilizumab']['reason']}",
                *(f"refractory: {reason}" for reason in advice["refractory"]["reasons"]),
            ]
            _emit(stdout, args.json, {**_case_dict(view.case), "advice": advice}, lines)
        else:
            fields = dict(field.partition("=")[::2] for field in args.fields)
            case = services.close_case(
                OPERATOR, args.code, outcome=fields.get("outcome", ""), cause=fields.get("cause")
            )
            _emit(
                stdout,
                args.json,
                _case_dict(case),
                [
                    f"closed {case.code}: {case.outcome}"
                    + (
                        f" (attributed to {case.death_attributed_to})"
                        if case.death_attributed_to
                        else ""
                    )
                ],
            )
    except InputError as exc:
        for error in exc.errors:
            stderr.write(f"toxbot case: error: {error.message()}\n")
        return EXIT_INVALID
    except ServiceError as exc:
        stderr.write(f"toxbot case: {exc.message}\n")
        return EXIT_INVALID
    return EXIT_OK


def _case_dict(case: models.Case) -> dict[str, Any]:
    return {
        "code": case.code,
        "status": case.status,
        "product": case.product,
        "infused_at": case.infused_at.isoformat(),
        "weight_kg": case.weight_kg,
        "age_years": case.age_years,
        "unit": case.unit,
        "outcome": case.outcome,
        "death_attributed_to": case.death_attributed_to,
    }


def _emit(stdout: TextIO, as_json: bool, document: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        json.dump(document, stdout, ensure_ascii=False, indent=2)
        stdout.write("\n")
    else:
        stdout.write("\n".join(lines) + "\n")
