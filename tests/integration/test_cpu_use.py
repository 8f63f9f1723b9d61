"""The benchmarks' CPU readings (``bench.cpu_use``): real processes, real PostgreSQL backends.

Linux only, as the bench's CPU rows are (elsewhere they say "not measured").
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import cpu_use
from bot.db.engine import make_engine

pytestmark = pytest.mark.skipif(not cpu_use.available(), reason="needs Linux's /proc")

# Waits for a line, burns 0.3 s of its own CPU, says so, then idles until stdin closes.
BURNER = """
import sys, time
sys.stdin.readline()
start = time.process_time()
while time.process_time() - start < 0.3:
    pass
print("done", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def burner() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    yield child
    if child.stdin is not None:
        child.stdin.close()
    child.wait(timeout=10)


def test_a_process_cpu_grows_with_its_work_and_an_ended_one_reads_zero() -> None:
    before = cpu_use.process_cpu_s(os.getpid())
    start = time.process_time()
    while time.process_time() - start < 0.1:
        pass
    assert cpu_use.process_cpu_s(os.getpid()) - before >= 0.05
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert cpu_use.process_cpu_s(ended.pid) == 0.0


def test_descendants_lists_the_processes_a_process_started(
    burner: subprocess.Popen[str],
) -> None:
    assert burner.pid in cpu_use.descendants(os.getpid())
    assert cpu_use.descendants(burner.pid) == []


def test_the_meter_counts_what_a_part_spent_between_start_and_now(
    burner: subprocess.Popen[str],
) -> None:
    assert burner.stdin is not None
    assert burner.stdout is not None
    meter = cpu_use.CpuMeter({"burner": lambda: [burner.pid], "none": list})
    meter.start()
    burner.stdin.write("go\n")
    burner.stdin.flush()
    assert burner.stdout.readline().strip() == "done"
    spent = meter.spent()
    assert 0.25 <= spent["burner"] <= 1.0  # its 0.3 s, read in clock ticks
    assert spent["none"] == 0.0


def test_postgres_backends_are_found_by_their_database(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            database = make_url(postgres_url).database
            assert database is not None
            assert pid in cpu_use.postgres_backends(database)
            assert pid not in cpu_use.postgres_backends("toxbot_no_such_database")
    finally:
        engine.dispose()
