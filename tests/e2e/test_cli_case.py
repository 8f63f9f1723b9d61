"""The operator's case commands as a user runs them: a real `toxbot` process on a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.db.migrate import head_revision

TOXBOT = Path(sys.executable).parent / "toxbot"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'toxbot.db'}",
        "TOXBOT_TIMEZONE": "Europe/London",
        "TOXBOT_PROTOCOL": "",
    }


def toxbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOXBOT), *args], env=env, capture_output=True, text=True, check=False
    )


def test_new_list_show_close_and_verify(env: dict[str, str]) -> None:
    upgraded = toxbot(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"revision {head_revision()}" in upgraded.stdout

    created = toxbot(
        env,
        "case",
        "new",
        "product=axi-cel",
        "infused=2026-11-20T09:30",
        "weight=72",
        "age=58",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    case = json.loads(created.stdout)
    code = case["code"]
    assert code.startswith("CT-")
    assert case["infused_at"] == "2026-11-20T09:30:00+00:00"  # London is UTC in November
    assert any("local time, Europe/London" in line for line in case["interpretations"])

    listed = toxbot(env, "case", "list")
    assert code in listed.stdout

    shown = toxbot(env, "case", "show", code, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["advice"]["crs"] is None  # nothing assessed yet

    closed = toxbot(env, "case", "close", code, "outcome=death", "cause=icans")
    assert closed.returncode == 0, closed.stderr
    assert "attributed to icans" in closed.stdout

    verified = toxbot(env, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout


def test_bad_fields_are_named_and_exit_2(env: dict[str, str]) -> None:
    run = toxbot(env, "case", "new", "product=axi-cel", "infused=yesterday", "weight=-3")
    assert run.returncode == 2
    assert "infused=yesterday" in run.stderr
    listed = toxbot(env, "case", "list", "--json")
    assert json.loads(listed.stdout)["cases"] == []


def test_an_unknown_case_exits_2_with_its_code(env: dict[str, str]) -> None:
    run = toxbot(env, "case", "show", "CT-ZZZZ")
    assert run.returncode == 2
    assert "CT-ZZZZ" in run.stderr
