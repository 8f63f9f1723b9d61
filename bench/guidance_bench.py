"""Benchmark of the guidance engine: advice for a long case, against the issue's target.

The case is a week of a refractory course: 200 assessments (every 50 minutes, CRS and ICANS
rising, then plateauing), 20 doses (tocilizumab, dexamethasone, methylprednisolone, anakinra)
and 50 labs. ``advise`` is measured on a derived state (the issue's figure); ``derive_state``,
which regrades every assessment with the case's history, is measured alongside, because a reply
pays for both.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Final

from bench.grading_bench import Row
from bot.protocol_files import load_protocol
from grading.case import CaseHistory, Dose, Lab, Patient, TimedAssessment
from grading.guidance import advise
from grading.protocol import Protocol
from grading.state import derive_state

ADVISE_TARGET_MS: Final = 1.0
START: Final = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
_NORMAL_SIGNS: Final = {
    "seizure": "none",
    "motor_weakness": False,
    "cerebral_edema": "none",
    "papilledema": False,
    "cn6_palsy": False,
    "posturing": False,
    "cushings_triad": False,
}


def long_case() -> tuple[CaseHistory, datetime]:
    """200 assessments, 20 doses and 50 labs over about a week, and the moment after."""
    assessments = []
    for i in range(200):
        at = START + timedelta(minutes=50 * i)
        pressors = 0 if i < 40 else 1 if i < 120 else 2
        ice = max(0, 10 - i // 20)
        assessments.append(
            TimedAssessment.model_validate(
                {
                    "at": at,
                    "temperature_c": 38.0 + (i % 15) / 10,
                    "hypotension": True,
                    "vasopressors": pressors,
                    "vasopressin": False,
                    "oxygen": {"device": "nasal_cannula", "flow_l_min": float(2 + i % 6)},
                    "ice": ice,
                    "consciousness": "alert" if ice else "awakens_to_voice",
                    **_NORMAL_SIGNS,
                }
            )
        )
    drugs = ["tocilizumab"] * 4 + ["dexamethasone"] * 10 + ["methylprednisolone"] * 3
    drugs += ["anakinra"] * 3
    doses = [
        Dose.model_validate(
            {
                "at": START + timedelta(hours=8 * i + 1),
                "drug": drug,
                "dose_mg": {"tocilizumab": 640, "dexamethasone": 10, "anakinra": 200}.get(
                    drug, 1000
                ),
                "route": "iv",
            }
        )
        for i, drug in enumerate(drugs)
    ]
    analytes = ["ferritin", "crp", "fibrinogen", "alt", "platelets"]
    units = {
        "ferritin": "ng/mL",
        "crp": "mg/L",
        "fibrinogen": "mg/dL",
        "alt": "U/L",
        "platelets": "10^9/L",
    }
    labs = [
        Lab.model_validate(
            {
                "at": START + timedelta(hours=3 * i),
                "analyte": analytes[i % 5],
                "value": 100.0 + 97 * i,
                "unit": units[analytes[i % 5]],
            }
        )
        for i in range(50)
    ]
    history = CaseHistory(
        patient=Patient(age_years=58, weight_kg=74, product="axi-cel", infused_at=START),
        assessments=tuple(assessments),
        doses=tuple(doses),
        labs=tuple(labs),
    )
    return history, START + timedelta(minutes=50 * 200)


def _median_ms(work: object, repeats: int) -> tuple[float, float]:
    assert callable(work)
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        work()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times), min(times)


def measure_advise(repeats: int) -> list[Row]:
    """``advise`` on a derived state (the issue's figure) and ``derive_state`` beside it."""
    protocol: Protocol = load_protocol()
    history, now = long_case()
    state = derive_state(history, protocol, now)
    for _ in range(3):  # warm up
        advise(state, protocol, now)
    advise_median, advise_best = _median_ms(lambda: advise(state, protocol, now), repeats)
    derive_median, derive_best = _median_ms(lambda: derive_state(history, protocol, now), repeats)
    size = "200 assessments, 20 doses, 50 labs"
    return [
        Row(
            "advise(state), long case",
            f"median {advise_median:.3f} ms, best {advise_best:.3f} ms ({size}; {repeats} runs)",
            f"<= {ADVISE_TARGET_MS:g} ms median",
            advise_median <= ADVISE_TARGET_MS,
            advise_median,
        ),
        Row(
            "  derive_state(history), same case",
            f"median {derive_median:.3f} ms, best {derive_best:.3f} ms (regrades all 200)",
            "(for context)",
            None,
            derive_median,
        ),
    ]
