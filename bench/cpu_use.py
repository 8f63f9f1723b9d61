"""CPU time of the processes a benchmark runs, read from Linux's ``/proc``: where a request's
CPU goes, which the throughput of a machine whose every CPU is busy comes down to.

A request per second at 8 clients is the machine's CPU divided by what one request costs
everyone involved; that cost drifts less than the throughput on a shared virtual machine, and
its parts (the serving process, the reply poster, PostgreSQL's backends) say what a change
would have to shrink. Off Linux every reading is zero (the rows say so).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Final

PROC: Final = Path("/proc")
TICKS_PER_S: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    """Whether processes' CPU times can be read here (Linux's /proc)."""
    return (PROC / "self" / "stat").exists()


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/pid/stat`` after the command name (it may hold spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:  # the process ended
        return None
    return text.rpartition(")")[2].split()


def process_cpu_s(pid: int) -> float:
    """User and system CPU seconds of ``pid``, all its threads; 0 once it has ended."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12), in clock ticks.
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def _pids() -> Iterable[int]:
    return (int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit())


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and by them, in turn."""
    parents: dict[int, int] = {}
    for other in _pids():
        fields = _stat_fields(other)
        if fields is not None:
            parents[other] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, its in parents.items() if its == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def postgres_backends(database: str) -> list[int]:
    """PostgreSQL's backend processes connected to ``database`` (their titles name it)."""
    found = []
    for pid in _pids():
        try:
            title = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        words = title.split()
        if words[:1] == ["postgres:"] and database in words:
            found.append(pid)
    return found


class CpuMeter:
    """CPU seconds spent by named parts over a stretch of time.

    ``parts`` maps a name to a function giving that part's process ids, asked again at the end
    (a process started meanwhile counts from its start; one that ended meanwhile is lost).
    The clients are left out: each is a process started for the run, and its start-up (the
    interpreter, its imports) would outweigh the requests it sends.
    """

    def __init__(self, parts: Mapping[str, Callable[[], list[int]]]) -> None:
        self._parts = parts
        self._start: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        """Note every part's CPU so far."""
        self._start = {
            name: {pid: process_cpu_s(pid) for pid in pids()} for name, pids in self._parts.items()
        }

    def spent(self) -> dict[str, float]:
        """CPU seconds each part spent since :meth:`start`."""
        spent = {}
        for name, pids in self._parts.items():
            before = self._start.get(name, {})
            spent[name] = sum(max(0.0, process_cpu_s(pid) - before.get(pid, 0.0)) for pid in pids())
        return spent
