"""The console front end as a user runs it: ``toxbot console`` and ``toxbot run`` with piped input.

Each test runs the installed script in a temporary folder (so no ``.env`` and no ``./var`` of the
checkout is read or written), with ``DATABASE_URL`` on a SQLite file there.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.cli import toxbot

LABEL = "BMT-7A"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOXBOT_"))}
    return {**clean, "DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}"}


def yesterday() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")


def test_console_answers_help_with_no_prompt_noise_on_a_pipe(
    tmp_path: Path, env: dict[str, str]
) -> None:
    run = toxbot("console", stdin="help\n", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert "/tox assess CASE field=value" in run.stdout
    assert "/tox assess CT-7K4Q temp=39.4" in run.stdout  # the examples
    assert "tox>" not in run.stdout + run.stderr  # no prompt when stdin is not a terminal


def test_a_piped_script_registers_assesses_gives_and_shows_due_and_summary(
    tmp_path: Path, env: dict[str, str]
) -> None:
    script = "\n".join(
        [
            "# a comment line is skipped",
            f"/tox new {LABEL} product=axi-cel infused={yesterday()} weight=80 age=61",
            f"assess {LABEL} temp=102.6F bp=low o2=ra ice=10 loc=alert signs=none",
            f"/tox give {LABEL} tocilizumab 640mg route=iv",
            f"due {LABEL}",
            f"summary {LABEL}",
            "quit",
            "frobnicate",  # after quit: never read
        ]
    )
    run = toxbot("console", stdin=script + "\n", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert f"Registered case {LABEL} (axi-cel)." in out
    assert f"{LABEL}: CRS grade 2, ICANS grade 0" in out  # the acknowledgement
    assert "── in the case's thread ──" in out  # then the thread reply
    assert "temp=102.6F → 39.22 °C (converted from 102.6 °F)" in out
    assert "Consider, per protocol: tocilizumab for CRS grade 2 or higher" in out
    assert f"{LABEL}: recorded tocilizumab 640 mg IV" in out
    assert "Tocilizumab: 1 dose(s) in the last 24 h, 1 in total" in out
    assert f"Open reminders for case {LABEL}: 2" in out
    assert "vitals with a CRS check  (pending, in " in out
    assert f"{LABEL} (axi-cel): active, day +1" in out
    assert "tocilizumab: 1 dose(s), 640 mg in all" in out
    assert "Unknown command" not in out
    assert (tmp_path / "console.db").exists()
    assert not (tmp_path / "var").exists()


def test_a_form_request_prints_how_to_type_it_instead(tmp_path: Path, env: dict[str, str]) -> None:
    script = (
        f"new {LABEL} product=axi-cel infused={yesterday()} weight=80\nassess {LABEL}\n"
        "assess CT-NOPE\n"  # no such case: said at once, no hint to type its fields
    )
    run = toxbot("console", stdin=script, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert f"here, type: assess {LABEL} field=value" in run.stdout
    assert "No case CT-NOPE" in run.stdout
    assert "here, type: assess CT-NOPE" not in run.stdout


def test_console_as_a_member_is_role_checked(tmp_path: Path, env: dict[str, str]) -> None:
    run = toxbot("console", "--as", "U0NOBODY", stdin="report\ndue\n", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert "Not allowed: viewing reports needs the lead or admin role" in run.stdout
    assert "Not allowed: viewing a case needs" in run.stdout


def test_errors_name_the_field_and_the_console_goes_on(tmp_path: Path, env: dict[str, str]) -> None:
    run = toxbot("console", stdin="assess CT-ZZZZ temp=50\nhelp\n", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert "temp=50: outside 30-45 °C. Accepted:" in run.stdout
    assert "/tox report [from=DATE]" in run.stdout  # the next line was still answered


def test_run_without_slack_tokens_starts_the_console_on_sqlite_under_var(
    tmp_path: Path, env: dict[str, str]
) -> None:
    del env["DATABASE_URL"]  # the default: SQLite under ./var
    run = toxbot("run", stdin="help\n", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert "/tox new [LABEL] product=NAME" in run.stdout
    assert (tmp_path / "var" / "toxbot.db").exists()
