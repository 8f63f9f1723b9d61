"""``toxbot audit verify``: check the audit hash chain and name any row that does not fit."""

from __future__ import annotations

import argparse
from typing import Final, TextIO

EXIT_OK: Final = 0
EXIT_BROKEN: Final = 1
EXIT_UNREACHABLE: Final = 2


def add_audit_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit verify``."""
    audit = subparsers.add_parser("audit", help="check the audit trail")
    commands = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    commands.add_parser(
        "verify",
        help="recompute the hash chain; name altered, removed or reordered rows",
        description="Exit status 0 when the chain is intact, 1 when a row does not fit (each "
        "named), 2 when the database cannot be reached. Compare the row count and last hash "
        "with an earlier run to notice the newest rows cut off.",
    )


def run_audit(
    args: argparse.Namespace, stdout: TextIO, stderr: TextIO, *, database_url: str | None = None
) -> int:
    """Run ``toxbot audit verify``."""
    if args.audit_command != "verify":
        stderr.write("toxbot audit: choose a subcommand: verify\n")
        return EXIT_UNREACHABLE
    from sqlalchemy.exc import InterfaceError, OperationalError

    from bot.db.engine import make_engine, session_factory
    from bot.services.audit import verify_chain
    from bot.settings import Settings

    url = database_url or Settings().database_url.get_secret_value()
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            report = verify_chain(session)
    except (OperationalError, InterfaceError):
        stderr.write("toxbot audit: the database could not be reached; nothing was checked\n")
        return EXIT_UNREACHABLE
    finally:
        engine.dispose()
    if report.ok:
        stdout.write(f"audit chain intact: {report.rows} rows, last hash {report.last_hash}\n")
        return EXIT_OK
    for problem in report.problems:
        stdout.write(f"{problem}\n")
    stdout.write(f"audit chain BROKEN: {len(report.problems)} problem(s) in {report.rows} rows\n")
    return EXIT_BROKEN
