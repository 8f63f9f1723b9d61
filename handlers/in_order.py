"""Jobs that run on a shared executor, one at a time for each key, in the order they came.

Thread replies are posted from a pool of threads, because each post waits on Slack. Two replies
to one case, recorded a second apart, would then race: a post Slack rate-limits waits out its
``Retry-After`` (a second or more) while the next reply's post goes straight through, and the
case's thread would read grade 3 above the grade 2 recorded before it. :class:`InOrder` keeps a
queue for each key (a case's thread): while a job of that key runs, later jobs of the key wait
behind it, and the thread that ran it runs them next; jobs of other keys run meanwhile on the
executor's other threads, so one case waiting on Slack never holds up another's replies.

Example::

    posts = InOrder(ThreadPoolExecutor(4))
    posts.submit("CT-7QK2", post_first)
    posts.submit("CT-7QK2", post_second)  # runs once post_first has returned
    posts.submit("CT-M4XD", post_other)  # runs at once on another thread
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor

log = logging.getLogger(__name__)

Job = Callable[[], object]


class InOrder:
    """Runs jobs on ``executor``, one at a time and in submission order for each key."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._lock = threading.Lock()
        # key -> the jobs waiting behind the one of that key now running (present while one runs)
        self._waiting: dict[Hashable, deque[Job]] = {}

    def submit(self, key: Hashable, job: Job) -> None:
        """Run ``job`` after every job of ``key`` submitted before it has returned.

        Raises what ``executor.submit`` raises (``RuntimeError`` once it is shut down) when no
        job of ``key`` is running; otherwise the job joins that key's queue, which the running
        job's thread drains before it returns to the executor, shut down or not.
        """
        with self._lock:
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.append(job)
                return
            self._waiting[key] = deque()
        try:
            self._executor.submit(self._run, key, job)
        except BaseException:
            with self._lock:
                del self._waiting[key]
            raise

    def running(self) -> int:
        """How many keys have a job running or waiting."""
        with self._lock:
            return len(self._waiting)

    def _run(self, key: Hashable, job: Job) -> None:
        next_job: Job | None = job
        while next_job is not None:
            try:
                next_job()
            except Exception as exc:  # the next job of the key runs all the same
                log.error("ordered background job failed: %s", type(exc).__name__)
            with self._lock:
                waiting = self._waiting[key]
                if waiting:
                    next_job = waiting.popleft()
                else:
                    del self._waiting[key]
                    next_job = None
