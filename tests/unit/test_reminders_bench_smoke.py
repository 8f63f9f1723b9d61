"""Smoke test of the reminders benchmark: a tiny spread and burst, end to end, on SQLite.

No target is checked (timing in tests is flaky; the bench prints figures): each run starts the
real scheduler and dispatcher in a fresh process, and every reminder must arrive. About 10 s.
"""

from bench import reminders_bench
from bench.database_bench import sqlite_engine

TINY = reminders_bench.Sizes(spread=40, spread_s=1.0, burst=30)


def test_the_spread_and_the_burst_are_delivered_and_measured() -> None:
    with sqlite_engine() as engine:
        url = engine.url.render_as_string(hide_password=False)
        spread, memory = reminders_bench.spread_rows("SQLite", url, TINY)
    with sqlite_engine() as engine:
        burst = reminders_bench.burst_row(
            "SQLite", engine.url.render_as_string(hide_password=False), TINY
        )

    assert "40/40 delivered" in spread.figure
    assert "30/30 delivered" in burst.figure
    assert spread.value >= 0
    assert burst.value > 0
    assert memory.value > 0
    assert memory.what.strip().startswith("peak memory")
