"""``handlers.in_order.InOrder``: a key's jobs one at a time and in order; other keys meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.in_order import InOrder

WAIT_S = 5.0


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(4)
    yield pool
    pool.shutdown(wait=True)


def test_a_later_job_of_a_key_waits_for_the_one_before(executor: ThreadPoolExecutor) -> None:
    jobs, done, release = InOrder(executor), [], threading.Event()

    def first() -> None:
        release.wait(WAIT_S)
        done.append("first")

    jobs.submit("CT-1", first)
    jobs.submit("CT-1", lambda: done.append("second"))
    time.sleep(0.05)
    assert done == []  # the second waits behind the first, which waits on the event
    release.set()
    executor.shutdown(wait=True)
    assert done == ["first", "second"]
    assert jobs.running() == 0


def test_another_key_runs_while_one_key_waits(executor: ThreadPoolExecutor) -> None:
    jobs, release, other_ran = InOrder(executor), threading.Event(), threading.Event()
    jobs.submit("CT-1", lambda: release.wait(WAIT_S))
    jobs.submit("CT-2", other_ran.set)
    assert other_ran.wait(WAIT_S)
    assert not release.is_set()
    release.set()


def test_a_job_that_fails_does_not_stop_the_next_of_its_key(executor: ThreadPoolExecutor) -> None:
    jobs, done = InOrder(executor), []

    def fails() -> None:
        raise ValueError("Slack said no")

    jobs.submit("CT-1", fails)
    jobs.submit("CT-1", lambda: done.append("next"))
    executor.shutdown(wait=True)
    assert done == ["next"]


def test_a_key_whose_jobs_have_run_starts_afresh(executor: ThreadPoolExecutor) -> None:
    jobs, done = InOrder(executor), []
    jobs.submit("CT-1", lambda: done.append(1))
    deadline = time.monotonic() + WAIT_S
    while jobs.running() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert jobs.running() == 0
    jobs.submit("CT-1", lambda: done.append(2))
    executor.shutdown(wait=True)
    assert done == [1, 2]


def test_a_refused_submission_leaves_no_key_behind() -> None:
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    jobs = InOrder(pool)
    with pytest.raises(RuntimeError):
        jobs.submit("CT-1", lambda: None)
    assert jobs.running() == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["CT-1", "CT-2", "CT-3"]), min_size=1, max_size=30))
def test_every_key_runs_its_jobs_in_submission_order(keys: list[str]) -> None:
    """Whatever the interleaving of keys, each key's jobs ran once each, in the order given."""
    ran: list[tuple[str, int]] = []
    lock = threading.Lock()

    def job(key: str, n: int) -> None:
        time.sleep(0.0005 * (n % 3))  # uneven lengths, so threads would overtake each other
        with lock:
            ran.append((key, n))

    pool = ThreadPoolExecutor(4)
    jobs = InOrder(pool)
    for n, key in enumerate(keys):
        jobs.submit(key, lambda key=key, n=n: job(key, n))  # type: ignore[misc]
    pool.shutdown(wait=True)
    assert sorted(ran) == sorted((key, n) for n, key in enumerate(keys))
    for key in set(keys):
        assert [n for k, n in ran if k == key] == [n for n, k in enumerate(keys) if k == key]
