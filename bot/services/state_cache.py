"""A per-process copy of busy cases' histories and states, trusted only at a known revision.

Recording an assessment needs the case's whole history and its state: loading and regrading a
long case on every record is most of a record's cost. Each write to a case's history bumps
``case.revision`` in the same transaction (the row is locked while it does), and after the
transaction commits the services keep here the history as written and the state derived from it,
under the new revision. The next write reads the case row anyway; when the revision it finds is
the one kept here, nothing else can have changed the history (another process would have bumped
it), so the copy is the database's content and the state is the previous one to build on
(:func:`grading.state.derive_state`'s ``previous``). A mismatch means a reload, never a guess.

The copy also keeps the case's row as the write saw it (:class:`~bot.services.cases.LockedCase`;
nothing in it changes while the case is active but the revision), so on PostgreSQL a record on a
kept case can skip reading it: its one write statement checks the revision itself
(:mod:`bot.services.record_writes`).

Bounded (least recently used out) and safe to share between threads: the values are immutable.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final, NamedTuple

from bot.services.cases import LockedCase
from grading.case import CaseHistory
from grading.guidance_types import CaseState

DEFAULT_CAPACITY: Final = 256  # busy cases per process; a ward has tens at a time


class CachedCase(NamedTuple):
    """A case's history at one revision and a state derived from exactly that history."""

    revision: int
    history: CaseHistory
    state: CaseState
    case: LockedCase  # the row at ``revision``


class StateCache:
    """Histories and states of recently written cases, keyed by case id."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[int, CachedCase] = OrderedDict()
        self._ids: dict[str, int] = {}  # case code -> id, for the cases kept
        self._lock = threading.Lock()

    def get(self, case_id: int, revision: int) -> CachedCase | None:
        """The copy of this case if it is at ``revision``; None otherwise (load it instead)."""
        with self._lock:
            entry = self._entries.get(case_id)
            if entry is None or entry.revision != revision:
                return None
            self._entries.move_to_end(case_id)
            return entry

    def latest(self, code: str) -> CachedCase | None:
        """The newest copy kept of case ``code`` (its revision may be behind the database's)."""
        with self._lock:
            case_id = self._ids.get(code)
            return None if case_id is None else self._entries.get(case_id)

    def put(self, case_id: int, entry: CachedCase) -> None:
        """Keep ``entry`` (call only after its transaction committed); the oldest may go."""
        with self._lock:
            current = self._entries.get(case_id)
            if current is not None and current.revision > entry.revision:
                return  # a later write's copy arrived first: keep the newer one
            self._entries[case_id] = entry
            self._entries.move_to_end(case_id)
            self._ids[entry.case.code] = case_id
            while len(self._entries) > self._capacity:
                _, oldest = self._entries.popitem(last=False)
                self._ids.pop(oldest.case.code, None)

    def discard(self, case_id: int) -> None:
        """Forget a case (closed, or its copy can no longer be trusted)."""
        with self._lock:
            entry = self._entries.pop(case_id, None)
            if entry is not None:
                self._ids.pop(entry.case.code, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
