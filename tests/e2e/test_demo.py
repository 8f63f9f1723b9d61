"""``toxbot demo`` as a user runs it: a scripted refractory-CRS case, start to finish."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.e2e.cli import toxbot


def test_demo_plays_a_refractory_crs_case_and_touches_nothing(tmp_path: Path) -> None:
    configured = tmp_path / "configured.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{configured}"}
    run = toxbot("demo", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    typed = re.findall(r"^> /tox (\w+)", out, flags=re.MULTILINE)
    assert typed[0] == "new"
    assert typed.count("assess") >= 5
    assert typed.count("give") >= 8
    # Tocilizumab up to its total limit, then no more under the protocol (D17).
    assert "4 in total (limit 4); the total limit is reached" in out
    # The refractory flag with its reason (D14), the re-reviews (D16) and the ladder.
    assert "REFRACTORY CRS: clinician review (D16)" in out
    assert "D14: refractory CRS: grade 2 24 h after the first tocilizumab dose" in out
    assert "Refractory re-reviews: " in out
    assert "Consider, per protocol: dexamethasone 20 mg IV every 6 h, the first rung" in out
    assert "Consider, per protocol: methylprednisolone 1,000 mg IV daily for 3 days" in out
    assert "a rung already passed" in out  # 80 mg/day of dexamethasone given by the end
    assert "refractory re-review (D16)  (pending, " in out  # due list at the end
    assert "[UNVERIFIED]" in out
    # A throw-away database: neither ./var nor the configured database is touched.
    assert not (tmp_path / "var").exists()
    assert not configured.exists()
