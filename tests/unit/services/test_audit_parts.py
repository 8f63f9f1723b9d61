"""The audit chain's canonical JSON cut into fragments for a hash the database computes.

PostgreSQL appends an event in one statement and hashes it itself, from fragments made here and
the values only it knows (the previous hash, a new assessment's id). For any content, gluing the
fragments around those values must give exactly the text :func:`event_hash` hashes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.services.audit import (
    FREE_TEXT_KEYS,
    HASHED_FIELDS,
    audit_values,
    canonical_parts,
    event_hash,
)

TEXT = st.text(max_size=30)
# A detail key that would carry free text ("note", "Text "...) is refused before any hashing.
KEYS = TEXT.filter(lambda key: key.strip().lower().replace("-", "_") not in FREE_TEXT_KEYS)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


def glued(parts: list[str], *values: str) -> str:
    text = parts[0]
    for value, part in zip(values, parts[1:], strict=True):
        text += value + part
    return text


@given(
    actor=TEXT,
    case_code=st.none() | TEXT,
    detail=st.dictionaries(st.sampled_from(["crs", "icans", "key", "k"]), JSON_VALUES),
    object_id=st.integers(1, 10**12).map(str),
    prev_hash=st.binary(min_size=32, max_size=32).map(lambda b: b.hex()),
)
def test_fragments_around_the_id_and_previous_hash_glue_back_to_the_hashed_text(
    actor: str, case_code: str | None, detail: dict[str, Any], object_id: str, prev_hash: str
) -> None:
    values = audit_values(
        at=datetime(2026, 11, 20, 8, 0, 0, 123456, tzinfo=UTC),
        actor=actor,
        action="assessment.record",
        source="slash",
        role="nurse",
        case_code=case_code,
        object_type="assessment",
        detail=detail,
    )
    parts = canonical_parts(values, ("object_id", "prev_hash"))
    server_side = hashlib.sha256(glued(parts, object_id, prev_hash).encode()).hexdigest()
    event = SimpleNamespace(**{**values, "object_id": object_id, "prev_hash": prev_hash})
    assert set(HASHED_FIELDS) <= set(vars(event))
    assert server_side == event_hash(event)  # type: ignore[arg-type]


@given(prev_hash=st.binary(min_size=32, max_size=32).map(lambda b: b.hex()), text=TEXT)
def test_fragments_around_the_previous_hash_alone_glue_back_too(prev_hash: str, text: str) -> None:
    values = audit_values(
        at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        actor="U0NURSE1",
        action="case.view",
        source="slash",
        object_id=text,
        detail={"view": text},
    )
    parts = canonical_parts(values, ("prev_hash",))
    event = SimpleNamespace(**{**values, "prev_hash": prev_hash})
    expected = event_hash(event)  # type: ignore[arg-type]
    assert hashlib.sha256(glued(parts, prev_hash).encode()).hexdigest() == expected
