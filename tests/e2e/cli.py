"""Running the installed ``toxbot`` console script as a user does, for the end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TOXBOT = Path(sys.executable).parent / "toxbot"
ERROR_KEYS = frozenset({"field", "value", "problem", "accepted"})


@dataclass(frozen=True)
class Run:
    """One finished ``toxbot`` process."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """stdout as one JSON object: nothing else may be printed there."""
        document = json.loads(self.stdout)
        assert isinstance(document, dict), self.stdout
        return document

    def error_lines(self) -> list[str]:
        """The non-blank lines on stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]

    def error_fields(self) -> list[str]:
        """The fields named by ``{"errors": [...]}`` on stdout, each error fully formed."""
        errors = self.json()["errors"]
        assert errors, self.stdout
        for error in errors:
            assert error.keys() >= ERROR_KEYS, error
        return [error["field"] for error in errors]


def toxbot(
    *args: str,
    stdin: str | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Run:
    """Run the installed console script and wait for it."""
    if not TOXBOT.exists():
        pytest.fail(f"console script not installed at {TOXBOT}; run `pip install -e .`")
    completed = subprocess.run(
        [str(TOXBOT), *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=None if env is None else dict(env),
        timeout=60,
        check=False,
    )
    return Run(tuple(args), completed.returncode, completed.stdout, completed.stderr)
