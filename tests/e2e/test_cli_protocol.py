"""``toxbot protocol check`` and ``toxbot protocol show`` as an institution runs them (design §6).

``bot/cli.py`` does not route ``protocol`` yet, so these drive ``bot.cli_protocol`` directly: in
process with the parser it builds, and once in a real subprocess for the exit status.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import grading
from bot.cli_protocol import add_protocol_parser, run_protocol
from bot.protocol_files import PROTOCOL_ENV
from grading.protocol import parse_protocol

DEFAULT_FILE = Path(grading.__file__).parent / "protocols" / "default.yaml"
DEFAULT_TEXT = DEFAULT_FILE.read_text(encoding="utf-8")
DEFAULT_LABEL = "toxbot-default 2026.1 (UNAPPROVED)"


@dataclass(frozen=True)
class Run:
    """One finished ``toxbot protocol`` command."""

    status: int
    stdout: str
    stderr: str


def toxbot_protocol(*argv: str, environ: dict[str, str] | None = None) -> Run:
    """Parse ``toxbot protocol ARGV`` with the module's own parser and run it in process."""
    parser = argparse.ArgumentParser(prog="toxbot")
    add_protocol_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["protocol", *argv])
    stdout, stderr = io.StringIO(), io.StringIO()
    status = run_protocol(args, stdout, stderr, environ={} if environ is None else environ)
    return Run(status, stdout.getvalue(), stderr.getvalue())


@pytest.fixture
def edited_file(tmp_path: Path) -> Path:
    """An institution's copy: at most 3 tocilizumab doses, approved by a named clinician."""
    path = tmp_path / "our-protocol.yaml"
    path.write_text(
        DEFAULT_TEXT.replace("max_doses_total: 4", "max_doses_total: 3").replace(
            "approval:\n  approved: false\n",
            "approval:\n  approved: true\n  by: Dr A. Example\n  approved_on: 2026-12-01\n",
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def broken_file(tmp_path: Path) -> Path:
    """Three mistakes: an order instead of advice, a negative limit, and a misspelt key."""
    path = tmp_path / "broken.yaml"
    path.write_text(
        DEFAULT_TEXT.replace(
            "Consider, per protocol: dexamethasone 20 mg", "Give dexamethasone 20 mg"
        )
        .replace("max_doses_total: 4", "max_doses_total: -1")
        .replace("monitoring_days: 14", "monitoring_dayz: 14"),
        encoding="utf-8",
    )
    return path


def test_check_the_default() -> None:
    run = toxbot_protocol("check", str(DEFAULT_FILE))
    assert (run.status, run.stderr) == (0, "")
    assert run.stdout.splitlines() == [
        f"{DEFAULT_FILE}: valid protocol {DEFAULT_LABEL}",
        "approval: NOT approved: every reply carries an unapproved-protocol banner",
        "no differences from the default (toxbot-default 2026.1)",
    ]


def test_check_an_institutions_file_lists_what_it_changes(edited_file: Path) -> None:
    run = toxbot_protocol("check", str(edited_file))
    assert (run.status, run.stderr) == (0, "")
    assert run.stdout.splitlines() == [
        f"{edited_file}: valid protocol toxbot-default 2026.1",
        "approval: approved by Dr A. Example on 2026-12-01",
        "differences from the default (toxbot-default 2026.1): 4",
        "  approval.approved: false -> true",
        "  approval.by: none -> Dr A. Example",
        "  approval.approved_on: none -> 2026-12-01",
        "  drugs.tocilizumab.max_doses_total: 4 -> 3",
    ]


def test_check_a_broken_file_prints_one_line_per_error(broken_file: Path) -> None:
    run = toxbot_protocol("check", str(broken_file))
    assert (run.status, run.stdout) == (2, "")
    lines = run.stderr.splitlines()
    assert len(lines) == 3, lines
    for line in lines:
        assert re.fullmatch(rf"{re.escape(str(broken_file))}: [\w.-]+: \S.*", line), line
    assert f"{broken_file}: drugs.tocilizumab.max_doses_total: " in run.stderr
    assert "(-1)" in run.stderr
    assert re.search(r": steps\.\d+\.text: guidance is decision support, not an order", run.stderr)
    assert f"{broken_file}: cadence.monitoring_dayz: Extra inputs are not permitted" in run.stderr


def test_check_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    run = toxbot_protocol("check", str(missing))
    assert run.status == 2
    assert run.stderr == f"{missing}: protocol: no such protocol file ({missing})\n"


def test_show_prints_the_active_protocol_after_naming_it(edited_file: Path, tmp_path: Path) -> None:
    default = toxbot_protocol("show")
    assert default.status == 0
    header, _, body = default.stdout.partition("\n")
    assert header.startswith(f"# toxbot protocol {DEFAULT_LABEL}, from the default protocol")
    assert body == DEFAULT_TEXT, "printed as written, comments included"

    from_env = toxbot_protocol("show", environ={PROTOCOL_ENV: str(edited_file)})
    header, _, body = from_env.stdout.partition("\n")
    assert (
        header
        == f"# toxbot protocol toxbot-default 2026.1, from {edited_file} (set by {PROTOCOL_ENV})"
    )
    assert parse_protocol(from_env.stdout).drugs.tocilizumab.max_doses_total == 3

    explicit = toxbot_protocol(
        "show", "--file", str(DEFAULT_FILE), environ={PROTOCOL_ENV: str(edited_file)}
    )
    assert (
        explicit.stdout.splitlines()[0] == f"# toxbot protocol {DEFAULT_LABEL}, from {DEFAULT_FILE}"
    )


def test_exit_status_in_a_real_process(broken_file: Path) -> None:
    """The statuses a shell script sees: 2 for a broken file, errors on stderr only."""
    script = (
        "import argparse, sys\n"
        "from bot.cli_protocol import add_protocol_parser, run_protocol\n"
        "parser = argparse.ArgumentParser(prog='toxbot')\n"
        "add_protocol_parser(parser.add_subparsers(dest='command'))\n"
        "sys.exit(run_protocol(parser.parse_args(sys.argv[1:]), sys.stdout, sys.stderr))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "protocol", "check", str(broken_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 3, done.stderr
