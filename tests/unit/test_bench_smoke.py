"""Smoke test of the benchmark suite: its measurements run and return sane rows.

Figures are not checked against targets here (timing in unit tests is flaky and slow); the bench
prints them. The cold-start measurement is not run, as it spawns processes.
"""

from bench import grading_bench


def test_core_and_text_measurements_return_positive_rates() -> None:
    """Tiny counts: each measurement runs end to end and names its row as the table shows it."""
    rows = [
        grading_bench.measure_core(repeats=2, count=200),
        grading_bench.measure_text(repeats=2, count=200),
    ]

    assert [row.what for row in rows] == [
        "grade(assessment), validated models",
        "grade(parse_assessment(text))",
    ]
    assert all(row.value > 0 for row in rows)
    assert "what" in grading_bench.format_table(rows).splitlines()[0]


def test_each_table_says_how_fast_the_machine_was_when_it_was_measured() -> None:
    line = grading_bench.machine_speed()
    assert line.startswith("machine speed now: reference workload ")
    assert float(line.split("workload ")[1].split(" ms")[0]) > 0
