"""Benchmarks of toxbot's grading core, printed as plain-text tables of figures.

Three figures, each against its target:

* grades per second of ``grading.grade`` on already-validated models (the bot re-grades on every
  message and every reminder, so the core must be cheap);
* text → parsed → graded per second (the slash command and channel messages go this way);
* cold start of ``toxbot grade --text`` as a whole process (the console and scripts pay it).

Everything runs single-threaded on one pinned CPU (the subprocesses inherit the pin), so each
figure is a one-core figure, comparable across machines with different numbers of cores. Other
work scheduled on that CPU still slows it: the median is the figure compared with the target,
the best shows what the code reaches undisturbed. There are no asserts: a missed target is
printed as "no", to be read and explained, not to fail a build.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import grading

T = TypeVar("T")

CORE_TARGET_PER_S: Final = 100_000
TEXT_TARGET_PER_S: Final = 20_000
COLD_START_TARGET_MS: Final = 300.0

CORE_WHAT: Final = "grade(assessment), validated models"
CORE_COLD_WHAT: Final = "  same, caches cleared before each"
TEXT_WHAT: Final = "grade(parse_assessment(text))"
COLD_START_WHAT: Final = "cold start: toxbot grade --text"

COLD_START_TEXT: Final = "temp=39.4 pressors=1 o2=nc:3 ice=7"

# A fixed, varied day on a CAR T unit: CRS and ICANS graded, undetermined (a range, for missing
# data) and not assessed; ICE and CAPD; exclusions, prior treatment, unit conversions, stated
# grades, times and notes. The core set is these lines, parsed once, so both rates grade the
# same assessments; describe_set() prints the mix so the reader can check it.
ASSESSMENT_LINES: Final[tuple[str, ...]] = (
    "temp=39.4 pressors=1 o2=nc:3 ice=7 loc=alert signs=none",
    "temp=102.6F bp=low o2=hfnc:40 capd=10 age=6 loc=voice signs=none",
    "ice=4+3+1+0+1 loc=spontaneous seizure=none motor=none edema=none papilledema=no cn6=no "
    "posturing=no cushing=no",
    "temp=38.2 bp=normal o2=ra",
    "temp=38.9 bp=low o2=ra ice=10 loc=alert signs=none age=54",
    "temp=37.1 treated=yes pressors=2 vasopressin=yes o2=nrb ice=3 loc=voice signs=none age=61 "
    "day=4",
    "temp=40.1 o2=nc:4",
    "temp=39.0",
    "ice=8",
    "capd=12 baseline_capd=4 age=3 dd=no loc=alert signs=none",
    "temp=38.5 bp=low pressors=1 o2=vent ice=0 loc=unarousable seizure=prolonged motor=none "
    "edema=diffuse papilledema=yes cn6=no posturing=yes cushing=no age=45",
    "temp=101.8F bp=normal o2=mask:8 exclude=hypoxia ice=9 loc=alert signs=none age=38 weight=82kg",
    "loc=touch seizure=brief motor=none edema=focal papilledema=no cn6=no posturing=no cushing=no "
    "ice=5 age=70",
    "temp=37.8 bp=normal o2=ra ice=10 loc=alert signs=none age=12 stated=crs0,icans0 at=08:15",
    "o2=hfnc:25 bp=low",
    "temp=39.8 bp=low o2=blowby capd=6 age=2 loc=spontaneous signs=none weight=12kg",
    "tremor=yes ich=no ice=10 loc=alert signs=none age=29",
    "temp=38.6 bp=low o2=nc:2 exclude=hypotension,loc ice=6 loc=voice signs=none age=58 day=9 "
    'note="febrile overnight, now on 2L"',
    "temp=36.9 bp=normal o2=ra capd=9 age=4",
    "ice=2 aphasia=no loc=voice seizure=none motor=weakness edema=none papilledema=no cn6=no "
    "posturing=no cushing=no age=66 at=2026-11-23T14:30+01:00",
)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: what was measured, the figures, the target and whether it is met.

    ``value`` is the figure compared with the target (a median rate per second, or a median in
    ms), kept as a number so callers and the smoke test need not parse ``figure``.
    """

    what: str
    figure: str
    target: str
    met: bool | None  # None: reported for context, with no target of its own
    value: float


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work each measurement does: the full run, or a quick smoke run."""

    core_repeats: int
    core_count: int
    text_repeats: int
    text_count: int
    cold_runs: int
    advise_runs: int


# Sized so the whole bench stays under about a minute at the rates the core reaches today.
FULL: Final = Sizes(
    core_repeats=7,
    core_count=80_000,
    text_repeats=7,
    text_count=20_000,
    cold_runs=21,
    advise_runs=101,
)
QUICK: Final = Sizes(
    core_repeats=3,
    core_count=2_000,
    text_repeats=3,
    text_count=1_000,
    cold_runs=5,
    advise_runs=5,
)


def assessments() -> list[grading.Assessment]:
    """The core set: every benchmark line parsed once into a validated model."""
    return [grading.parse_assessment(line).assessment for line in ASSESSMENT_LINES]


def describe_set() -> str:
    """One line on the mix of results the set produces, to show the set is varied."""
    results = [grading.grade(assessment) for assessment in assessments()]
    crs = Counter(result.crs.status.value for result in results)
    icans = Counter(result.icans.status.value for result in results)
    tools = Counter(result.icans.tool.value if result.icans.tool else "none" for result in results)

    def shown(counts: Counter[str]) -> str:
        return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))

    return (
        f"set: {len(results)} assessments; CRS {shown(crs)}; ICANS {shown(icans)}; "
        f"ICANS tool {shown(tools)}"
    )


def _rates(
    work: Callable[[T], object], items: Sequence[T], count: int, repeats: int
) -> tuple[float, float]:
    """Median and best rate per second of ``work`` over ``count`` items, cycling through them.

    The batch is built before timing so only ``work`` and the loop are measured; a tenth of a
    batch runs first as a warm-up, and garbage is collected before each repeat so one repeat does
    not pay for another's garbage.
    """
    batch = [items[i % len(items)] for i in range(count)]
    for item in batch[: max(len(items), count // 10)]:
        work(item)
    rates: list[float] = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter_ns()
        for item in batch:
            work(item)
        rates.append(count * 1e9 / (time.perf_counter_ns() - start))
    return statistics.median(rates), max(rates)


def _rate_row(what: str, median: float, best: float, repeats: int, count: int, target: int) -> Row:
    return Row(
        what,
        f"median {median:,.0f}/s, best {best:,.0f}/s ({repeats} x {count:,})",
        f">= {target:,}/s",
        median >= target,
        median,
    )


def _grade_text(text: str) -> grading.GradingResult:
    """What the bot does with a message: parse the line, then grade it."""
    return grading.grade(grading.parse_assessment(text).assessment)


def measure_core(repeats: int, count: int) -> Row:
    """Grades per second of ``grading.grade`` on the already-validated core set."""
    median, best = _rates(grading.grade, assessments(), count, repeats)
    return _rate_row(CORE_WHAT, median, best, repeats, count, CORE_TARGET_PER_S)


def measure_core_cold(repeats: int, count: int) -> Row:
    """Grades per second with every memo of the core emptied before each grade: the worst case.

    ``measure_core`` is the steady state, where the bounded caches of the pure rules and of the
    result assembly hold what a ward's assessments repeat; this row shows the cost without them.
    """

    def cold_grade(assessment: grading.Assessment) -> grading.GradingResult:
        grading.clear_caches()
        return grading.grade(assessment)

    median, best = _rates(cold_grade, assessments(), count, repeats)
    return Row(
        CORE_COLD_WHAT,
        f"median {median:,.0f}/s, best {best:,.0f}/s ({repeats} x {count:,})",
        "(worst case, for context)",
        None,
        median,
    )


def measure_text(repeats: int, count: int) -> Row:
    """Assessment lines parsed, validated and graded per second."""
    median, best = _rates(_grade_text, ASSESSMENT_LINES, count, repeats)
    return _rate_row(TEXT_WHAT, median, best, repeats, count, TEXT_TARGET_PER_S)


def toxbot_script() -> Path:
    """The ``toxbot`` console script of the running interpreter's environment."""
    return Path(sys.executable).parent / "toxbot"


def measure_cold_start(runs: int) -> Row:
    """Wall time of ``toxbot grade --compact --text ...`` as a whole process, in ms.

    The first run is discarded: it pays for cold file caches, which a clinician's second command
    does not. Median, 90th percentile and best of the rest are reported.
    """
    script = toxbot_script()
    if not script.exists():
        raise FileNotFoundError(
            f"{script} not found: install toxbot in this environment (make install)"
        )
    command = [str(script), "grade", "--compact", "--text", COLD_START_TEXT]
    times_ms: list[float] = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times_ms.append((time.perf_counter_ns() - start) / 1e6)
    kept = times_ms[1:] or times_ms
    median = statistics.median(kept)
    p90 = statistics.quantiles(kept, n=10, method="inclusive")[-1] if len(kept) > 1 else median
    return Row(
        COLD_START_WHAT,
        f"median {median:.0f} ms, p90 {p90:.0f} ms, min {min(kept):.0f} ms ({len(kept)} runs)",
        f"<= {COLD_START_TARGET_MS:.0f} ms median",
        median <= COLD_START_TARGET_MS,
        median,
    )


def format_table(rows: Sequence[Row]) -> str:
    """The rows as a plain-text table with aligned columns."""
    header = ("what", "measured", "target", "met")
    shown = {True: "yes", False: "no", None: "-"}
    cells = [header] + [(r.what, r.figure, r.target, shown[r.met]) for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def pin_to_one_core() -> str:
    """Pin this process (and the subprocesses it starts) to one CPU; say which."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here); single-threaded"
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {allowed[-1]})
    return f"pinned to CPU {allowed[-1]} ({len(allowed)} available); single-threaded"


def profile_top(entries: int = 15) -> str:
    """cProfile of both rate loops, top entries by own time: where a missed target goes."""
    parts: list[str] = []
    for what, run in (
        (CORE_WHAT, lambda: _rates(grading.grade, assessments(), 20_000, 1)),
        (TEXT_WHAT, lambda: _rates(_grade_text, ASSESSMENT_LINES, 5_000, 1)),
    ):
        profiler = cProfile.Profile()
        profiler.runcall(run)
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(entries)
        parts.append(f"profile of {what}, by own time:\n" + stream.getvalue().lstrip())
    return "\n".join(parts)


def machine_speed() -> str:
    """How fast this machine runs Python right now: a fixed workload's median time.

    This VM's speed wanders by about a factor of two from minute to minute (other tenants on the
    host), and every figure moves with it; the reference, printed with each table, says which
    kind of minute a table was measured in. Not a target.
    """
    record = {"temperature_c": 39.2, "oxygen": {"device": "nasal_cannula", "flow": 3.0}}
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(4000):
            text = json.dumps({**record, "i": i})
            sorted(json.loads(text).items())
        times.append((time.perf_counter() - start) * 1e3)
    return (
        f"machine speed now: reference workload {statistics.median(times):.1f} ms "
        "(median of 5; lower is faster; compare runs by it)"
    )


def print_section(
    title: str, rows: Callable[[bool], list[Row]], argv: Sequence[str] | None = None
) -> int:
    """Print one more table under ``title``: ``rows(quick)``, quick with ``--quick`` (a smoke
    run); other arguments are left to the other sections."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true")
    args, _ = parser.parse_known_args(argv)
    print()
    print(title)
    print(machine_speed())
    print(format_table(rows(args.quick)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print the table; ``--quick`` for a smoke run."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of the two rate loops"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}, {sys.executable})"
    )
    print(f"engine {grading.ENGINE_VERSION}")
    print(pin_to_one_core())
    print(describe_set())
    print(machine_speed())
    print()
    from bench.database_bench import database_rows  # these import Row from here
    from bench.guidance_bench import measure_advise

    rows = [
        measure_core(sizes.core_repeats, sizes.core_count),
        measure_core_cold(sizes.core_repeats, max(1, sizes.core_count // 10)),
        measure_text(sizes.text_repeats, sizes.text_count),
        measure_cold_start(sizes.cold_runs),
        *measure_advise(sizes.advise_runs),
        *database_rows(quick=args.quick),
    ]
    print(format_table(rows))
    if args.profile:
        print()
        print(profile_top())
    return 0
