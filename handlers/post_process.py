"""Thread replies posted from a child process, so posting never competes with a request.

Rendering a reply and sending it to Slack is Python work; on the process that answers requests
it holds the interpreter's lock while the next request waits for it, and with a request arriving
while the last reply is still being posted, most of a request's time went to the post. So
``toxbot serve`` posts from a child process (:class:`ProcessPoster`): a listener's
``to_case_thread`` or ``in_thread`` writes the reply to a pipe and returns, and the child, a
plain :class:`~handlers.delivery.Poster` with its own Web API client and its own database
engine (it reads and claims case threads), sends it, with the same retries, fallbacks and
dedupe. Everything else a listener asks of the poster (forms, ephemeral notes, the home tab,
its own jobs) stays in the process, on the thread executor: those are rare, or must be answered
within the request's trigger window.

A listener never waits on the child: before each write it asks Linux how much of the pipe is
taken, and a job that might not fit (a child that fell behind, or stopped reading) is
posted from this process instead (ahead of what waits in the pipe), counted as
``poster_pipe_full`` and logged at most once a minute. A blocked write would otherwise hold
the listener's thread (on SQLite the only one, with every request behind it) until the child
read again.

The pipe is written by the listener's own thread, under a lock (a reply is larger than the
writes the kernel keeps whole), not through a ``multiprocessing.Queue``: a queue hands each
item to a feeder thread, and waking that thread, its lock and its write cost the serving
process about 0.25 ms of CPU per reply, three times the pipe's (measured in process on
SQLite, ``app.dispatch`` of signed ``/tox assess``: 1.49 ms a request with the queue, 1.33 ms
with the pipe, 1.24 ms posting nothing). The child reads each job at once and hands it to its
own threads, so the pipe stays near empty; its capacity is raised to :data:`PIPE_BYTES` where
Linux allows, and only a child that stopped reading for that long would make a listener wait.

The child's metric counts (Web API calls and failures by method and error code) travel back on
a second queue, gathered every half second, and are added to the serving process's
``/metrics``. A child that dies is started again on the next post (counted as
``poster_restarts``); replies (and counts) it had not sent are lost, never stored twice: the
record itself is in the database, and ``/tox summary`` shows it. :meth:`ProcessPoster.stop`
lets the child send what it was given before it exits.

Only a database another process can open is shared (a SQLite file or PostgreSQL); an in-memory
SQLite database keeps its posts in the process (:func:`can_post_from_a_process`).
"""

from __future__ import annotations

import array
import contextlib
import logging
import mmap
import multiprocessing
import os
import pickle
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from typing import Any, Final

from slack_sdk import WebClient
from sqlalchemy.engine import make_url

from bot.metrics import Metrics
from bot.replies import Reply
from bot.services.api import Services
from bot.settings import Settings
from handlers.delivery import Poster

log = logging.getLogger("toxbot.slack")

CHILD_POSTER_THREADS: Final = 4  # posts in flight at once in the child (they wait on Slack)
STOP_TIMEOUT_S: Final = 10.0
START_TIMEOUT_S: Final = 60.0  # how long start() waits for a new child to be able to post
PARENT_CHECK_S: Final = 1.0  # how often an idle child checks that its parent still lives
COUNTS_EVERY_S: Final = 0.5  # how often the child sends its counts
PIPE_BYTES: Final = 1 << 20  # the job pipe's capacity, asked of Linux (its default cap)
PIPE_FULL_LOG_EVERY_S: Final = 60.0  # a child behind is logged once a minute, counted always
CHILD_NICENESS: Final = 10  # the child yields the CPU to the serving process when both want it
_CONTEXT: Final = multiprocessing.get_context("spawn")  # never fork a process with threads


def can_post_from_a_process(settings: Settings) -> bool:
    """Whether a child process can open the configured database (not in-memory SQLite)."""
    url = make_url(settings.database_url.get_secret_value())
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


@dataclass
class _Child:
    """One child process, the write end of its job pipe and the counts queue only it uses (a
    queue a killed process was reading can stay locked, so a new child never inherits its
    predecessor's)."""

    process: SpawnProcess
    jobs: Connection
    counts: Queue[Any]
    reader: threading.Thread
    ready: EventType  # set by the child once it can post
    writing: threading.Lock = field(default_factory=threading.Lock)  # one job on the pipe at once

    def send(self, job: object) -> None:
        """Write ``job`` to the pipe: :class:`PipeFull` when it would not fit, OSError when the
        child has closed its end."""
        data = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        with self.writing:
            room = pipe_room(self.jobs)
            if room is not None and len(data) + _FRAME_BYTES > room:
                raise PipeFull(len(data), room)
            self.jobs.send_bytes(data)


class PipeFull(Exception):
    """A job would not fit in the child's pipe: writing it would wait for the child to read."""

    def __init__(self, size: int, room: int) -> None:
        super().__init__(f"a job of {size} bytes does not fit in the {room} bytes left")


# What Connection.send_bytes writes before the data: a 4-byte length, or 12 bytes when long.
_FRAME_BYTES: Final = 12


def pipe_room(pipe: Connection) -> int | None:
    """Bytes that can surely be written to ``pipe`` now without waiting; None where the
    platform cannot tell (then writes are not checked).

    Linux counts a pipe's capacity in pages and tells how many bytes it holds, not how many
    pages: a write that does not fit in what is left of the last page starts a new one, so a
    page may hold as little as half a page of data. Half the capacity, less what is held, always
    fits (a pipe widened to 1 MiB still holds some 70 thread replies: the child reads at once).
    """
    try:
        import fcntl
        import termios
    except ImportError:  # pragma: no cover - not POSIX
        return None
    get_size = getattr(fcntl, "F_GETPIPE_SZ", None)
    if get_size is None:  # pragma: no cover - not Linux
        return None
    fd = pipe.fileno()
    held = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, held)
    return int(fcntl.fcntl(fd, get_size)) // 2 - held[0] - mmap.PAGESIZE


class ProcessPoster(Poster):
    """A :class:`Poster` whose thread replies are sent by a child process (see the module)."""

    def __init__(
        self,
        *,
        settings: Settings,
        client: WebClient,
        services: Services,
        executor: Executor,
        metrics: Metrics,
    ) -> None:
        super().__init__(client=client, services=services, executor=executor, metrics=metrics)
        # The child opens the database the parent already upgraded and seeded with admins.
        self._child_settings = settings.model_copy(
            update={"toxbot_auto_upgrade": False, "toxbot_admins": ""}
        )
        self._child: _Child | None = None
        self._start_lock = threading.Lock()
        self._pipe_full_logged_at: float | None = None  # at most one warning a minute

    def start(self, timeout: float = START_TIMEOUT_S) -> ProcessPoster:
        """Start the child (and the thread that adds its counts to this process's metrics), and
        wait until it can post.

        Starting a child is an interpreter importing the bot: seconds of CPU. Waited for here,
        it is paid before ``toxbot serve`` listens, not by the first requests it answers. A child
        not ready in ``timeout`` is logged and left to finish starting; posts wait for it.
        """
        with self._start_lock:
            self._child = child = self._spawn()
        if not child.ready.wait(timeout):
            log.warning("reply poster process not ready after %.0f s; posts wait for it", timeout)
        return self

    def ready(self) -> bool:
        """Whether a child is running and able to post."""
        child = self._child
        return child is not None and child.process.is_alive() and child.ready.is_set()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Let the child send what it was given, then end it (terminated after ``timeout``)."""
        with self._start_lock:
            child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(OSError):  # an ended child has nothing left to send
            child.send(None)
        child.process.join(timeout)
        if child.process.is_alive():
            log.warning("reply poster process did not stop in %.0f s; terminated", timeout)
            child.process.terminate()
            child.process.join(1)
        child.reader.join(timeout)
        child.jobs.close()

    # The listener-facing calls that go to the child.

    def to_case_thread(self, reply: Reply, *, key: str, channel: str | None, user: str) -> None:
        # Remembered here as well as in the child: the child forgets when it is restarted, and
        # knows nothing of what this process posted for it while its pipe was full.
        if self._first_post(key):
            self._send(
                ("to_case_thread", {"reply": reply, "key": key, "channel": channel, "user": user}),
                here=lambda: self._post_later(reply, channel=channel, user=user),
            )

    def in_thread(self, reply: Reply, *, channel: str, thread_ts: str, user: str) -> None:
        arguments: dict[str, Any] = {
            "reply": reply,
            "channel": channel,
            "thread_ts": thread_ts,
            "user": user,
        }
        self._send(
            ("in_thread", arguments),
            here=lambda: super(ProcessPoster, self).in_thread(
                reply, channel=channel, thread_ts=thread_ts, user=user
            ),
        )

    # ----------------------------------------------------------------------------------------

    def _send(self, job: tuple[str, dict[str, Any]], *, here: Callable[[], None]) -> None:
        """Hand ``job`` (a Poster method's name and arguments) to the child; ``here`` posts it
        from this process when the child cannot take it."""
        child = self._child
        if child is not None and not child.process.is_alive():
            with self._start_lock:
                if self._child is child:
                    log.error(
                        "reply poster process ended (exit code %s); starting another",
                        child.process.exitcode,
                    )
                    self._metrics.count("poster_restarts")
                    self._child = self._spawn()
                child = self._child
        if child is not None:
            try:
                child.send(job)
            except PipeFull:
                self._metrics.count("poster_pipe_full")
                now = time.monotonic()
                logged = self._pipe_full_logged_at
                if logged is None or now - logged >= PIPE_FULL_LOG_EVERY_S:
                    self._pipe_full_logged_at = now
                    log.warning(
                        "reply poster process is behind (its pipe is full); posting from this "
                        "one (poster_pipe_full counts each)"
                    )
            except OSError:  # it ended after the check: this one is posted here, the next restarts
                pass
            else:
                return
        here()  # stopped, never started, just ended, or behind: posted from this process

    def _spawn(self) -> _Child:
        reads, jobs = _CONTEXT.Pipe(duplex=False)
        _widen(jobs)
        counts: Queue[Any] = _CONTEXT.Queue()
        ready = _CONTEXT.Event()
        process = _CONTEXT.Process(
            target=_run_child,
            args=(self._child_settings, reads, counts, ready),
            name="toxbot-poster",
            daemon=True,
        )
        process.start()
        reads.close()  # the child's copy is its own: a write to an ended child fails, not waits
        reader = threading.Thread(
            target=self._read_counts,
            args=(process, counts),
            name="toxbot-poster-counts",
            daemon=True,
        )
        reader.start()
        return _Child(process, jobs, counts, reader, ready)

    def _read_counts(self, process: SpawnProcess, counts: Queue[Any]) -> None:
        """Add the child's counts to this process's metrics until it has ended."""
        while True:
            try:
                counted = counts.get(timeout=PARENT_CHECK_S)
            except queue.Empty:
                if not process.is_alive():
                    return
                continue
            name, amount, labels = counted
            self._metrics.count(name, amount, **labels)


class _ForwardedMetrics(Metrics):
    """The child's counters, sent to the serving process's metrics every
    :data:`COUNTS_EVERY_S` (gathered: a message per count would wake that process each time)."""

    def __init__(self, counts: Queue[Any]) -> None:
        super().__init__()
        self._out = counts
        self._gathered: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._gather_lock = threading.Lock()
        self._stopped = threading.Event()
        self._sender = threading.Thread(target=self._send_every, name="toxbot-counts", daemon=True)
        self._sender.start()

    def count(self, name: str, amount: int = 1, **labels: str) -> None:
        with self._gather_lock:
            self._gathered[(name, tuple(sorted(labels.items())))] += amount

    def close(self) -> None:
        """Send what was counted since the last send, and stop sending."""
        self._stopped.set()
        self._sender.join()

    def _send_every(self) -> None:
        while not self._stopped.wait(COUNTS_EVERY_S):
            self._send()
        self._send()

    def _send(self) -> None:
        with self._gather_lock:
            gathered, self._gathered = self._gathered, Counter()
        for (name, labels), amount in gathered.items():
            self._out.put((name, amount, dict(labels)))


def _widen(pipe: Connection) -> None:
    """Raise ``pipe``'s capacity to :data:`PIPE_BYTES` where the platform allows it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:  # pragma: no cover - not Linux
        return
    with contextlib.suppress(OSError):  # above the system's cap: the default stays
        fcntl.fcntl(pipe.fileno(), set_size, PIPE_BYTES)


def _run_child(settings: Settings, jobs: Connection, counts: Queue[Any], ready: EventType) -> None:
    """The child process: a plain Poster sending what arrives on ``jobs`` until ``None``;
    ``ready`` is set once it can."""
    from bot.app import build_services, freeze_startup_objects, make_web_client

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if hasattr(os, "nice"):
        os.nice(CHILD_NICENESS)  # background work: a request being answered gets the CPU first
    executor = ThreadPoolExecutor(CHILD_POSTER_THREADS, thread_name_prefix="toxbot-post")
    metrics = _ForwardedMetrics(counts)
    poster = Poster(
        client=make_web_client(settings),
        services=build_services(settings),
        executor=executor,
        metrics=metrics,
    )
    freeze_startup_objects()  # as the serving process: full collections skip what startup made
    parent = multiprocessing.parent_process()
    ready.set()
    while True:
        if not jobs.poll(PARENT_CHECK_S):
            if parent is not None and not parent.is_alive():
                break  # the serving process was killed: nobody is left to post for
            continue
        try:
            job = pickle.loads(jobs.recv_bytes())
        except EOFError:  # the serving process closed its end, or ended
            break
        if job is None:
            break
        method, arguments = job
        getattr(poster, method)(**arguments)
    executor.shutdown(wait=True)  # what was given is sent before the child ends
    metrics.close()
