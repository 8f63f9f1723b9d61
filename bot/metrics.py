"""Process metrics in the Prometheus text format, counted by hand (no client library needed).

Counters for requests, acknowledgements, errors and Web API failures, and a latency histogram of
Slack requests, exposed at ``/metrics`` in HTTP mode. Thread-safe: uvicorn's worker threads and
the background poster all count. Labels are fixed, low-cardinality names (a request kind, an
HTTP status, a Web API method): never a user, a case or any text a person typed.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from typing import Final

LATENCY_BUCKETS_S: Final = (0.001, 0.002, 0.003, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """The counters of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._buckets = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self._latency_sum = 0.0
        self._latency_count = 0

    def count(self, name: str, amount: int = 1, **labels: str) -> None:
        """Add ``amount`` to counter ``name`` with ``labels``."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] += amount

    def observe_latency(self, seconds: float) -> None:
        """Record one request's time from arrival to response."""
        index = bisect_left(LATENCY_BUCKETS_S, seconds)
        with self._lock:
            self._buckets[index] += 1
            self._latency_sum += seconds
            self._latency_count += 1

    def value(self, name: str, **labels: str) -> int:
        """A counter's value (tests and the bench read it)."""
        with self._lock:
            return self._counters[(name, tuple(sorted(labels.items())))]

    def render(self) -> str:
        """Everything in the Prometheus text exposition format (version 0.0.4)."""
        with self._lock:
            counters = sorted(self._counters.items())
            buckets = list(self._buckets)
            total, count = self._latency_sum, self._latency_count
        lines: list[str] = []
        typed: set[str] = set()
        for (name, labels), value in counters:
            if name not in typed:
                lines.append(f"# TYPE toxbot_{name} counter")
                typed.add(name)
            lines.append(f"toxbot_{name}{_labels(labels)} {value}")
        lines.append("# TYPE toxbot_request_seconds histogram")
        cumulative = 0
        for bound, hits in zip((*LATENCY_BUCKETS_S, float("inf")), buckets, strict=True):
            cumulative += hits
            edge = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'toxbot_request_seconds_bucket{{le="{edge}"}} {cumulative}')
        lines.append(f"toxbot_request_seconds_sum {total:.6f}")
        lines.append(f"toxbot_request_seconds_count {count}")
        return "\n".join(lines) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
