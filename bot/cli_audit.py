"""``toxbot audit verify``: check the audit hash chain and name any row that does not fit.

Exit status: 0 the chain is intact, 1 a row does not fit (one line per row on stdout), 2 the
check could not run (database unreachable, not a database URL, no audit table yet). Only argparse
is imported at the top: ``bot/cli.py`` builds every parser on each start.
"""

from __future__ import annotations

import argparse
from typing import Final, TextIO

EXIT_OK: Final = 0
EXIT_BROKEN: Final = 1
EXIT_UNAVAILABLE: Final = 2

_PG_CONNECT_TIMEOUT_S: Final = 10  # fail in seconds, not minutes, when the server is gone


def add_audit_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``audit`` with its subcommand ``verify``; return the ``audit`` parser."""
    audit = subparsers.add_parser("audit", help="check the audit trail")
    commands = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    commands.add_parser(
        "verify",
        help="recompute the hash chain; name altered, removed, inserted or reordered rows",
        description="Recompute every audit event's hash and its link to the previous event. "
        "Exit status 0 when the chain is intact, 1 when a row does not fit (each named on its "
        "own line), 2 when the database cannot be checked. A chain cannot show that its newest "
        "rows were cut off: keep the row count and last hash printed by each run and compare.",
    )
    return audit


def run_audit(
    args: argparse.Namespace,
    stdout: TextIO,
    stderr: TextIO,
    *,
    database_url: str | None = None,
) -> int:
    """Run ``toxbot audit verify`` on ``database_url`` (default: ``DATABASE_URL``)."""
    if getattr(args, "audit_command", None) != "verify":
        stderr.write("toxbot audit: choose a subcommand: verify\n")
        return EXIT_UNAVAILABLE
    from pathlib import Path

    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from bot.db.engine import make_engine, session_factory
    from bot.db.models import AuditEvent
    from bot.services.audit import verify_chain
    from bot.settings import Settings

    url = database_url or Settings().database_url.get_secret_value()
    try:
        parsed = make_url(url)
    except ArgumentError:
        stderr.write("toxbot audit: DATABASE_URL is not a database URL; nothing was checked\n")
        return EXIT_UNAVAILABLE
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            stderr.write("toxbot audit: an in-memory SQLite database has no audit trail\n")
            return EXIT_UNAVAILABLE
        if not Path(parsed.database).is_file():  # connecting would create an empty one
            stderr.write(f"toxbot audit: no database file at {parsed.database}\n")
            return EXIT_UNAVAILABLE
        engine = make_engine(url)
    elif parsed.get_backend_name() == "postgresql":
        engine = make_engine(url, connect_args={"connect_timeout": _PG_CONNECT_TIMEOUT_S})
    else:
        stderr.write(f"toxbot audit: {shown}: toxbot runs on SQLite or PostgreSQL only\n")
        return EXIT_UNAVAILABLE
    try:
        with engine.connect() as connection:
            has_table = inspect(connection).has_table(AuditEvent.__tablename__)
        if not has_table:
            stderr.write(
                f"toxbot audit: {shown} has no audit_event table; run `toxbot db upgrade` first\n"
            )
            return EXIT_UNAVAILABLE
        with session_factory(engine)() as session:
            report = verify_chain(session)
    except DBAPIError as exc:  # refused, timed out, dropped mid-check, bad credentials
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "no reason"
        stderr.write(
            f"toxbot audit: cannot reach the database at {shown} ({reason}); nothing was checked\n"
        )
        return EXIT_UNAVAILABLE
    finally:
        engine.dispose()
    if report.ok:
        stdout.write(f"audit chain intact: {report.rows} rows, last hash {report.last_hash}\n")
        return EXIT_OK
    for problem in report.problems:
        stdout.write(f"{problem}\n")
    stderr.write(
        f"toxbot audit: chain BROKEN: {len(report.problems)} bad row(s) of {report.rows}; "
        f"last hash {report.last_hash}\n"
    )
    return EXIT_BROKEN
