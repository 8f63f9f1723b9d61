"""Smoke test of the Slack benchmark: the floor and the bot are served and measured end to end.

Tiny counts, SQLite only, no target checked (the bench prints figures; timing in tests is
flaky). It starts real processes, so it takes a few seconds.
"""

from bench import slack_bench
from bench.database_bench import sqlite_engine

TINY = slack_bench.Sizes(warmup=2, latency=5, per_client=2)


def test_the_floor_and_the_bot_are_measured_over_http_side_by_side() -> None:
    with sqlite_engine() as engine:
        url = slack_bench._url(engine)
        paired = slack_bench.measure(url, TINY)
        service = slack_bench.service_p50_ms(url, 3)
    floor, bot = paired.floor, paired.bot

    for measured in (floor, bot):
        assert 0 < measured.p50_ms <= measured.p99_ms
        assert measured.per_s > 0
        assert len(measured.per_s_runs) == slack_bench.THROUGHPUT_RUNS
        assert min(measured.per_s_runs) <= measured.per_s <= max(measured.per_s_runs)
    assert service > 0
    assert floor.shared_per_s is None
    assert bot.shared_per_s is not None
    assert bot.shared_per_s > 0
    assert paired.shares == tuple(
        b / f for b, f in zip(bot.per_s_runs, floor.per_s_runs, strict=True)
    )
    assert min(paired.shares) <= paired.share <= max(paired.shares)
    assert set(floor.cpu_ms) == set(bot.cpu_ms) == {"serving", "reply poster", "stand-in for Slack"}
    assert bot.cpu_ms["serving"] > 0  # on SQLite: no PostgreSQL backends to read
    assert floor.cpu_ms["reply poster"] == 0  # the floor posts nothing
    # The serving process's CPU seconds per second of a run. Not bounded by 1 here: over runs
    # this short, CPU read in the kernel's 10 ms ticks rounds it by more than the run lasts.
    assert bot.serving_busy > 0
    assert floor.serving_busy >= 0


def _cases_of(offset: int, count: int) -> set[int]:
    return {(n // slack_bench.PER_CASE) % slack_bench.CASES for n in range(offset, offset + count)}


def test_each_throughput_client_writes_to_cases_no_other_client_run_or_phase_uses() -> None:
    per_client = slack_bench.FULL.per_client
    cases = [
        _cases_of(offset, per_client)
        for run in range(slack_bench.THROUGHPUT_RUNS)
        for offset in slack_bench._client_offsets(
            per_client, first_case=slack_bench.run_first_case(per_client, run), per_case=1
        )
    ]
    earlier = _cases_of(0, slack_bench.FULL.warmup + slack_bench.FULL.latency)
    earlier |= _cases_of(
        slack_bench.PACED_FIRST_CASE * slack_bench.PER_CASE, slack_bench.FULL.latency // 4
    )
    shared = {
        case
        for offset in slack_bench._client_offsets(
            per_client, first_case=slack_bench.SHARED_FIRST_CASE, per_case=2
        )
        for case in _cases_of(offset, per_client)
    }
    assert len(cases) == slack_bench.THROUGHPUT_RUNS * slack_bench.CLIENTS
    for i, mine in enumerate(cases):
        assert not mine & earlier
        assert not mine & shared
        assert all(not mine & theirs for j, theirs in enumerate(cases) if j != i)


def test_the_shared_run_puts_exactly_two_clients_on_each_case() -> None:
    per_client = slack_bench.FULL.per_client
    offsets = slack_bench._client_offsets(
        per_client, first_case=slack_bench.SHARED_FIRST_CASE, per_case=2
    )
    cases = [frozenset(_cases_of(offset, per_client)) for offset in offsets]
    assert all(cases.count(mine) == 2 for mine in cases)
    assert len(set(cases)) == slack_bench.CLIENTS // 2
