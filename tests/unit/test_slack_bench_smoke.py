"""Smoke test of the Slack benchmark: the floor and the bot are served and measured end to end.

Tiny counts, SQLite only, no target checked (the bench prints figures; timing in tests is
flaky). It starts real processes, so it takes a few seconds.
"""

from bench import slack_bench
from bench.database_bench import sqlite_engine

TINY = slack_bench.Sizes(warmup=2, latency=5, per_client=2)


def test_the_floor_and_the_bot_are_measured_over_http() -> None:
    with sqlite_engine() as engine:
        url = slack_bench._url(engine)
        floor = slack_bench.measure("bare", url, TINY)
        bot = slack_bench.measure("bot", url, TINY)
        service = slack_bench.service_p50_ms(url, 3)

    for measured in (floor, bot):
        assert 0 < measured.p50_ms <= measured.p99_ms
        assert measured.per_s > 0
    assert service > 0
