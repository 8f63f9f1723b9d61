"""Hypothesis strategies for assessments: every field optional, values across their full range,
and severity orderings used to 'worsen' one finding at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from grading import Assessment, InputError, assessment_from_mapping

OXYGEN_BY_SEVERITY: list[dict[str, Any]] = [
    {"device": "room_air"},
    {"device": "nasal_cannula", "flow_l_min": 2.0},
    {"device": "nasal_cannula", "flow_l_min": 6.0},
    {"device": "blow_by"},
    {"device": "nasal_cannula", "flow_l_min": 6.5},
    {"device": "high_flow_nasal_cannula", "flow_l_min": 40.0},
    {"device": "face_mask"},
    {"device": "nonrebreather", "flow_l_min": 15.0},
    {"device": "venturi"},
    {"device": "cpap"},
    {"device": "bipap"},
    {"device": "mechanical_ventilation"},
]
CONSCIOUSNESS_BY_SEVERITY = [
    "alert",
    "awakens_spontaneously",
    "awakens_to_voice",
    "awakens_to_tactile",
    "unarousable",
]
SEIZURE_BY_SEVERITY = ["none", "rapid_resolution", "prolonged_or_repetitive"]
EDEMA_BY_SEVERITY = ["none", "focal", "diffuse"]
BOOL_BY_SEVERITY = [False, True]

# Findings: fields whose value is a clinical observation, ordered from least to most severe.
FINDING_ORDERS: dict[str, list[Any]] = {
    "temperature_c": [36.5, 37.9, 37.99, 38.0, 38.5, 40.5],
    "hypotension": BOOL_BY_SEVERITY,
    "vasopressors": [0, 1, 2, 3],
    "vasopressin": BOOL_BY_SEVERITY,
    "oxygen": OXYGEN_BY_SEVERITY,
    "ice": [10, 9, 7, 6, 3, 2, 1, 0],
    "capd": [0, 1, 5, 8, 9, 20, 32],
    "consciousness": CONSCIOUSNESS_BY_SEVERITY,
    "global_aphasia": BOOL_BY_SEVERITY,
    "seizure": SEIZURE_BY_SEVERITY,
    "motor_weakness": BOOL_BY_SEVERITY,
    "cerebral_edema": EDEMA_BY_SEVERITY,
    "papilledema": BOOL_BY_SEVERITY,
    "cn6_palsy": BOOL_BY_SEVERITY,
    "posturing": BOOL_BY_SEVERITY,
    "cushings_triad": BOOL_BY_SEVERITY,
    "tremor_or_myoclonus": BOOL_BY_SEVERITY,
    "intracranial_hemorrhage": BOOL_BY_SEVERITY,
}

# Context: facts about the patient or the episode rather than observed findings. Their absence
# has a defined meaning in the clinical reference (no known prior CRS treatment, D5/D13; no
# recorded CAPD baseline, D7), so removing one may change a grade by rule, not by guess.
CONTEXT: dict[str, st.SearchStrategy[Any]] = {
    "age_years": st.sampled_from([0.5, 4.0, 11.9, 12.0, 12.1, 30.0, 70.0]),
    "developmental_delay": st.booleans(),
    "weight_kg": st.sampled_from([3.5, 9.9, 25.0, 70.0, 110.0]),
    "days_since_infusion": st.sampled_from([0.0, 3.0, 14.0, 21.0]),
    "prior_crs_treatment": st.booleans(),
    "baseline_capd": st.integers(0, 32),
}

ATTRIBUTABLE = [
    "fever",
    "hypotension",
    "hypoxia",
    "ice",
    "capd",
    "consciousness",
    "seizure",
    "motor",
    "edema",
]


@st.composite
def assessments(draw: Callable[..., Any]) -> Assessment:
    """A valid assessment with any subset of fields recorded (contradictions filtered out)."""
    fields: dict[str, Any] = {}
    for name, order in FINDING_ORDERS.items():
        if draw(st.booleans()):
            fields[name] = draw(st.sampled_from(order))
    for name, strategy in CONTEXT.items():
        if draw(st.integers(0, 3)) == 0:
            fields[name] = draw(strategy)
    if draw(st.integers(0, 3)) == 0:
        fields["attributed_elsewhere"] = draw(st.lists(st.sampled_from(ATTRIBUTABLE), max_size=3))
    if "ice" in fields and "capd" in fields:
        del fields[draw(st.sampled_from(["ice", "capd"]))]
    try:
        return assessment_from_mapping(fields)
    except InputError:
        # Contradictions (pressors with hypotension=false, ICE while unarousable) are refused by
        # design; drop the consciousness or hypotension field that clashes and keep the rest.
        fields.pop("consciousness", None)
        fields.pop("hypotension", None)
        return assessment_from_mapping(fields)
