"""Benchmarks of the Slack face: ``/tox assess`` over loopback HTTP, signed, with the database
write, against a bare bolt app that only acks, measured in the same run (design §10).

Each app runs in its own process behind uvicorn exactly as ``toxbot serve`` serves it (the
bot's ``create_app``; for the floor, a bolt ``App`` whose ``/tox`` listener only acks), and the
thread posts the bot makes answered by a stand-in for Slack's Web API in a process of its own
(:mod:`bench.quiet_slack`: about 0.07 ms of CPU a post, where the tests' fake took 0.17 ms,
which the bot's share of the machine paid for). Requests are
signed as Slack signs them and sent over keep-alive loopback connections:

* latency at 1 client: p50 and p99 of the round trip, request sent to answer read, back to
  back; and paced, one request every 20 ms as people send them, for the floor as for the bot:
  on this virtual machine an idle CPU is slow to wake, so a paced request costs even the floor
  about three times its back-to-back round trip, and the bot's paced figure is read against it;
* throughput at 8 clients (8 client processes): requests per second, the median of five
  runs (one run on this virtual machine varies by a fifth), and the bot's share of the
  floor's: both apps are served at once and each run of the bot is paired with a run of the
  floor next to it, the share being the median of the pairs' (the machine's speed drifts
  within a minute: a floor measured a minute before the bot would put that drift in the
  share). The floor's clients send four times the requests, so a floor run lasts about as
  long as the bot's beside it. Every answer must be the grades, as at one client. Each
  client records on cases of its own, as clinicians on different patients do; a last run
  puts two clients on each case, where writes to one case take turns.

On SQLite and on PostgreSQL (a throwaway database, as ``bench.database_bench`` makes it), each
bot against a floor of its own, served as ``toxbot serve`` serves that database: requests on one
thread on SQLite, on two on PostgreSQL (``bot.app.dispatch_threads``). A floor served otherwise
than its bot would measure the serving, not the bot's work: bolt alone on the event loop's own
thread acks more than twice as fast as on one thread (4,500/s against 1,900/s at 8 clients).
The server and client processes use every CPU (the rest of ``make bench`` is pinned to one): a
share of the floor is what is compared, so both see the same machine.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from typing import Any, Final

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bench.cpu_use import CpuMeter, available, descendants, postgres_backends
from bench.grading_bench import Row
from bot.app import DISPATCH_THREADS, SQLITE_DISPATCH_THREADS

P50_TARGET_MS: Final = 3.0
P99_TARGET_MS: Final = 15.0
SHARE_TARGET: Final = 0.25
CLIENTS: Final = 8
SECRET: Final = "bench-signing-secret-0123456789ab"
CLINICIAN: Final = "U0BENCH001"
LINE: Final = "temp=39.4 pressors=1 o2=nc:3 ice=7 loc=alert signs=none"
PER_CASE: Final = 50  # assessments per case before the next case (a course, not an ever-longer one)
CASES: Final = 260
GRADES: Final = b"CRS grade"  # in every ack of a recorded assessment of LINE
# Cases by phase: warm-up and latency 0-21, paced 40-44, throughput from 60 (a case for each
# client's 50 requests; each run on cases of its own), the same two clients to a case from 220.
PACED_FIRST_CASE: Final = 40
THROUGHPUT_FIRST_CASE: Final = 60
THROUGHPUT_RUNS: Final = 5  # the median is the figure: one run on this VM varies by a fifth
# The floor acks about four times as fast as the bot records: with four times the requests, a
# floor run spans about as much of the machine's drifting speed as the bot's run beside it.
FLOOR_SPAN: Final = 4
SHARED_FIRST_CASE: Final = 220
PACE_S: Final = 0.02  # the paced client: one request every 20 ms, as people send them (and slower)


@dataclass(frozen=True, slots=True)
class Sizes:
    """Requests per measurement."""

    warmup: int
    latency: int
    per_client: int


FULL: Final = Sizes(warmup=100, latency=1000, per_client=200)
QUICK: Final = Sizes(warmup=5, latency=30, per_client=10)


def _unpin() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


# ---------------------------------------------------------------------------------------------
# The servers, each in its own process


def _fake_slack(ready: Any) -> None:
    """Child process: the stand-in for Slack's Web API (:mod:`bench.quiet_slack`), in a process
    of its own: Slack's work is not the bot's, and it answers at the least CPU it can."""
    from bench.quiet_slack import serve_forever

    _unpin()
    serve_forever(ready)


def _serve(kind: str, database_url: str, api_url: str, ready: Any) -> None:
    """Child process: seed, then serve the bot (``kind`` "bot") or the floor ("bare")."""
    import logging

    from pydantic import SecretStr

    from bot.app import (
        create_app,
        http_server,
        make_web_client,
        start_poster,
        start_wal_checkpoints,
    )
    from bot.clock import SystemClock
    from bot.db.engine import make_engine, session_factory
    from bot.metrics import Metrics
    from bot.protocol_files import load_protocol
    from bot.serve import exit_on_sigterm
    from bot.services.api import OPERATOR, Services
    from bot.settings import Settings

    _unpin()
    logging.disable(logging.WARNING)
    settings = Settings(
        _env_file=None,
        slack_bot_token=SecretStr("xoxb-bench"),
        slack_signing_secret=SecretStr(SECRET),
        slack_api_url=api_url,
        database_url=SecretStr(database_url),
    )
    engine = make_engine(database_url)
    services = Services(
        sessions=session_factory(engine), clock=SystemClock(), protocol=load_protocol(environ={})
    )
    codes: list[str] = []
    if kind == "bot":
        services.set_role(OPERATOR, CLINICIAN, "clinician")
        for _ in range(CASES):
            data = {"product": "axi-cel", "infused_at": datetime.now(UTC), "weight_kg": 74}
            codes.append(services.register_case(OPERATOR, data).code)
    metrics = Metrics()
    client = make_web_client(settings)
    poster = None
    checkpoints = start_wal_checkpoints(services) if kind == "bot" else None  # as serve
    if kind == "bot":
        # As toxbot serve runs it: thread replies posted from a child process.
        poster = start_poster(settings, services, client=client, metrics=metrics)
        app = create_app(settings, services, web_client=client, metrics=metrics, poster=poster)
    else:
        app = _bare_app(client)
    # Both apps as serve serves this database (bot.app.dispatch_threads: one request thread on
    # SQLite, two on PostgreSQL), so each engine's bot is read against its own floor.
    server = http_server(app, services, metrics, host="127.0.0.1", port=0)
    sock = socket.socket(
        socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )  # see tests/slack/server.py
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    ready.put((sock.getsockname()[1], codes))
    exit_on_sigterm()  # as serve: terminated, the poster still stops cleanly
    try:
        server.run(sockets=[sock])
    finally:
        if poster is not None:
            poster.stop()
        if checkpoints is not None:
            checkpoints.stop()


def _bare_app(client: Any) -> Any:
    """The floor: bolt verifying signatures and acking ``/tox`` at once, nothing else.

    ``process_before_response`` as the bot has it, so the floor does not pay bolt's 10 ms ack
    polling either. (bolt is imported here only: the bench measures it, it does not use it.)
    """
    from slack_bolt import Ack, App

    app = App(
        client=client,
        signing_secret=SECRET,
        process_before_response=True,
        token_verification_enabled=False,
    )

    @app.command("/tox")
    def ack_only(ack: Ack) -> None:
        ack()

    return app


@dataclass(frozen=True, slots=True)
class Served:
    """An app being served: its port, the cases it registered (the bot's), and the process ids
    of its server and of its stand-in for Slack."""

    port: int
    codes: list[str]
    server_pid: int
    stand_in_pid: int


@contextmanager
def _server(kind: str, database_url: str) -> Iterator[Served]:
    context = mp.get_context("spawn")
    ready = context.Queue()
    fake = context.Process(target=_fake_slack, args=(ready,), daemon=True)
    fake.start()
    processes = [fake]
    try:
        api_url = _ready(ready, fake)
        # Not a daemon: the bot starts its reply poster as a child process, as serve does.
        server = context.Process(target=_serve, args=(kind, database_url, api_url, ready))
        server.start()
        processes.append(server)
        port, codes = _ready(ready, server)
        _wait_listening(port)
        if server.pid is None or fake.pid is None:  # pragma: no cover - both have started
            raise RuntimeError("a benchmark process has no id")
        yield Served(port, codes, server.pid, fake.pid)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.join(timeout=15)
            if process.is_alive():
                process.kill()


def _ready(queue: Any, process: Any, timeout: float = 120) -> Any:
    """What a child process put on ``queue``; fails at once if the child died first."""
    import queue as queues

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return queue.get(timeout=0.2)
        except queues.Empty:
            if not process.is_alive():
                raise RuntimeError(f"a benchmark process exited ({process.exitcode})") from None
    raise RuntimeError("a benchmark process did not start in time")


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.01)
    raise RuntimeError("the benchmark server did not start")


# ---------------------------------------------------------------------------------------------
# The clients


def _requests(codes: list[str], count: int, offset: int) -> list[tuple[bytes, dict[str, str]]]:
    """``count`` signed ``/tox assess`` requests, each with its own trigger id (a new record)."""
    from tests.slack.signing import FORM, command_body, signed_headers

    prepared = []
    for i in range(count):
        n = offset + i
        code = codes[(n // PER_CASE) % len(codes)] if codes else "CT-NONE"
        body = command_body(f"assess {code} {LINE}", user=CLINICIAN, trigger_id=f"bench.{n}")
        prepared.append((body.encode(), signed_headers(SECRET, body, FORM)))
    return prepared


def _round_trips(
    port: int,
    prepared: list[tuple[bytes, dict[str, str]]],
    pause: float = 0.0,
    expect: bytes = b"",
) -> list[float]:
    """Send each request in turn on one connection (``pause`` seconds apart); each round trip
    in seconds. Every answer must be HTTP 200 containing ``expect`` (the grades, for the bot):
    a refusal measured as a record would flatter the figure."""
    from tests.slack.signing import SlackSender

    sender = SlackSender("127.0.0.1", port, SECRET)
    times: list[float] = []
    try:
        for body, headers in prepared:
            start = time.perf_counter()
            response = sender.raw(body, headers)
            times.append(time.perf_counter() - start)
            if response.status != 200 or expect not in response.body:
                raise RuntimeError(f"HTTP {response.status}: {response.body[:120]!r}")
            if pause:
                time.sleep(pause)
    finally:
        sender.close()
    return times


def _client(
    port: int,
    codes: list[str],
    count: int,
    offset: int,
    barrier: Barrier,
    results: Any,
) -> None:
    """Client process: send ``count`` requests from ``offset`` once all clients are ready; put
    (start, end). Every answer must be the grades (for the bot), as at one client."""
    _unpin()
    prepared = _requests(codes, count, offset=offset)
    barrier.wait(timeout=60)
    start = time.perf_counter()
    _round_trips(port, prepared, expect=GRADES if codes else b"")
    results.put((start, time.perf_counter()))


def _client_offsets(per_client: int, *, first_case: int, per_case: int) -> list[int]:
    """Where each client starts: ``per_case`` clients (1 or 2) on each course of cases, and no
    case any other phase wrote to (cases are taken in order from ``first_case``)."""
    cases_each = -(-per_client // PER_CASE)
    firsts = [first_case + (i // per_case) * cases_each for i in range(CLIENTS)]
    if max(firsts) + cases_each > CASES:
        raise ValueError(f"{per_client} requests per client need more than {CASES} cases")
    return [case * PER_CASE for case in firsts]


def run_first_case(per_client: int, run: int) -> int:
    """The first case of throughput run ``run`` (a case each): after the cases of the runs
    before it, and before the shared run's."""
    cases_per_run = CLIENTS * -(-per_client // PER_CASE)
    first_case = THROUGHPUT_FIRST_CASE + run * cases_per_run
    if first_case + cases_per_run > SHARED_FIRST_CASE:
        raise ValueError(f"run {run} of {per_client} requests per client needs more cases")
    return first_case


def _throughput(
    port: int, codes: list[str], per_client: int, *, per_case: int = 1, run: int = 0
) -> float:
    """Requests per second over :data:`CLIENTS` concurrent client processes, each writing to
    cases of its own (``per_case`` 1: clinicians on different patients) or two to a case.
    ``run`` (0, 1...: clients on a case each) takes cases no earlier run wrote to."""
    if codes:
        first_case = run_first_case(per_client, run) if per_case == 1 else SHARED_FIRST_CASE
        offsets = _client_offsets(per_client, first_case=first_case, per_case=per_case)
    else:  # the floor: no cases to keep apart
        offsets = [0] * CLIENTS
    context = mp.get_context("spawn")
    barrier, results = context.Barrier(CLIENTS), context.Queue()
    clients = [
        context.Process(target=_client, args=(port, codes, per_client, offset, barrier, results))
        for offset in offsets
    ]
    for client in clients:
        client.start()
    spans = [results.get(timeout=600) for _ in clients]
    for client in clients:
        client.join()
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    return float(CLIENTS * per_client / (end - start))


@dataclass(frozen=True, slots=True)
class Measured:
    """One app's figures."""

    p50_ms: float
    p99_ms: float
    per_s: float  # each client on cases of its own: the median of THROUGHPUT_RUNS runs
    per_s_runs: tuple[float, ...]  # every run, in order
    paced_p50_ms: float  # one request every PACE_S: no background post of the last still running
    shared_per_s: float | None  # two clients to a case (the bot only: the floor has no cases)
    cpu_ms: dict[str, float]  # CPU ms a request at CLIENTS, by part (cpu_use.CpuMeter), medians
    serving_busy: float  # the share of one CPU the serving process used at CLIENTS: a median


@dataclass(frozen=True, slots=True)
class Paired:
    """The floor's and the bot's figures, measured side by side; ``shares``: each throughput
    run of the bot over the floor's run paired with it, in order (the median is the figure)."""

    floor: Measured
    bot: Measured
    shares: tuple[float, ...]

    @property
    def share(self) -> float:
        """The bot's throughput as a share of the floor's: the median of the paired runs'."""
        return statistics.median(self.shares)


def measure(database_url: str, sizes: Sizes) -> Paired:
    """The floor and the bot on one database, both served at once: latency at 1 client and
    throughput at :data:`CLIENTS`, each throughput run of the bot next to one of the floor.

    Both servers stay up throughout (an idle one takes no CPU) and each throughput run of the
    bot is paired with a run of the floor taken just before or just after it (alternately, so
    neither always goes first): this machine's speed drifts by a fifth within a minute, and a
    share of figures taken minutes apart would measure that drift as much as the bot.
    """
    with (
        _server("bare", database_url) as floor_app,
        _server("bot", database_url) as bot_app,
    ):
        apps = {"bare": floor_app, "bot": bot_app}
        meters = {kind: _cpu_meter(app, database_url) for kind, app in apps.items()}
        latency = {kind: _latency(app.port, app.codes, sizes) for kind, app in apps.items()}
        runs: dict[str, list[float]] = {"bare": [], "bot": []}
        cpu: dict[str, list[dict[str, float]]] = {"bare": [], "bot": []}
        for run in range(THROUGHPUT_RUNS):
            for kind in ("bare", "bot") if run % 2 == 0 else ("bot", "bare"):
                app, meter, per_client = apps[kind], meters[kind], _per_client(kind, sizes)
                meter.start()
                runs[kind].append(_throughput(app.port, app.codes, per_client, run=run))
                requests = CLIENTS * per_client
                cpu[kind].append({part: s * 1e3 / requests for part, s in meter.spent().items()})
        shared = _throughput(bot_app.port, bot_app.codes, sizes.per_client, per_case=2)
    floor, bot = (
        _measured(
            *latency[kind],
            tuple(runs[kind]),
            shared if kind == "bot" else None,
            {part: statistics.median(run[part] for run in cpu[kind]) for part in cpu[kind][0]},
            statistics.median(
                spent["serving"] * per_s / 1e3
                for spent, per_s in zip(cpu[kind], runs[kind], strict=True)
            ),
        )
        for kind in ("bare", "bot")
    )
    shares = tuple(b / f for b, f in zip(bot.per_s_runs, floor.per_s_runs, strict=True))
    return Paired(floor=floor, bot=bot, shares=shares)


def _per_client(kind: str, sizes: Sizes) -> int:
    """Requests each client sends in a throughput run: the floor sends :data:`FLOOR_SPAN`
    times the bot's, so that its run lasts about as long as the bot's it is paired with."""
    return sizes.per_client * (FLOOR_SPAN if kind == "bare" else 1)


def _cpu_meter(app: Served, database_url: str) -> CpuMeter:
    """What to read the CPU of while ``app`` serves: its server, the processes the server
    started (the bot's reply poster), PostgreSQL's backends on the database, the stand-in."""
    parts: dict[str, Callable[[], list[int]]] = {
        "serving": lambda: [app.server_pid],
        "reply poster": lambda: descendants(app.server_pid),
    }
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql" and url.database:
        database = url.database
        parts["PostgreSQL"] = lambda: postgres_backends(database)
    parts["stand-in for Slack"] = lambda: [app.stand_in_pid]
    return CpuMeter(parts)


def _latency(port: int, codes: list[str], sizes: Sizes) -> tuple[list[float], list[float]]:
    """Round trips at 1 client, back to back and paced (seconds), after a warm-up."""
    expect = GRADES if codes else b""
    _round_trips(port, _requests(codes, sizes.warmup, offset=0), expect=expect)
    times = _round_trips(port, _requests(codes, sizes.latency, offset=sizes.warmup), expect=expect)
    paced_count = max(1, sizes.latency // 4)
    prepared = _requests(codes, paced_count, offset=PACED_FIRST_CASE * PER_CASE)
    return times, _round_trips(port, prepared, pause=PACE_S, expect=expect)


def _measured(
    times: list[float],
    paced: list[float],
    runs: tuple[float, ...],
    shared: float | None,
    cpu_ms: dict[str, float],
    serving_busy: float,
) -> Measured:
    ms = sorted(t * 1e3 for t in times)
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    return Measured(
        p50_ms=statistics.median(ms),
        p99_ms=p99,
        per_s=statistics.median(runs),
        per_s_runs=runs,
        paced_p50_ms=statistics.median(paced) * 1e3,
        shared_per_s=shared,
        cpu_ms=cpu_ms,
        serving_busy=serving_busy,
    )


def service_p50_ms(database_url: str, count: int) -> float:
    """p50 of the same ``/tox assess`` line through ``bot.commands.run_line`` in process: the
    use case and its database write without HTTP, bolt or Block Kit (where the time goes)."""
    from zoneinfo import ZoneInfo

    from bot.clock import SystemClock
    from bot.commands import run_line
    from bot.db.engine import make_engine, session_factory
    from bot.protocol_files import load_protocol
    from bot.services.api import OPERATOR, Actor, Services

    engine = make_engine(database_url)
    services = Services(
        sessions=session_factory(engine), clock=SystemClock(), protocol=load_protocol(environ={})
    )
    services.set_role(OPERATOR, CLINICIAN, "clinician")  # so it records, not refuses
    actor, zone = Actor(CLINICIAN, "slash"), ZoneInfo("UTC")
    data = {"product": "axi-cel", "infused_at": datetime.now(UTC), "weight_kg": 74}
    times: list[float] = []
    code = ""
    for i in range(count):
        if i % PER_CASE == 0:
            code = services.register_case(OPERATOR, data).code
        start = time.perf_counter()
        result = run_line(
            services, actor, f"assess {code} {LINE}", zone=zone, idempotency_key=f"svc.{i}"
        )
        times.append(time.perf_counter() - start)
        if result.thread is None:
            raise RuntimeError("the use case did not record: " + result.ack.summary)
    engine.dispose()
    return statistics.median(times) * 1e3


# ---------------------------------------------------------------------------------------------
# Rows


def _engines() -> list[tuple[str, Callable[[], AbstractContextManager[Engine]]]]:
    from bench.database_bench import postgres_engine, sqlite_engine

    return [("SQLite", sqlite_engine), ("PostgreSQL", postgres_engine)]


def slack_rows(quick: bool) -> list[Row]:
    """On each engine, the floor served as ``toxbot serve`` serves that engine beside the bot:
    latency and throughput rows."""
    sizes = QUICK if quick else FULL
    rows: list[Row] = []
    for name, make in _engines():
        try:
            with make() as engine:
                url = _url(engine)
                paired = measure(url, sizes)
                service_ms = service_p50_ms(url, sizes.latency // 2)
        except Exception as exc:  # a figure missing says why, instead of ending the bench
            rows.append(
                Row(
                    f"/tox assess over HTTP, {name}",
                    f"not measured: {type(exc).__name__}: {exc}"[:80],
                    f"p50 <= {P50_TARGET_MS:g} ms",
                    False,
                    0.0,
                )
            )
            continue
        floor, bot, share = paired.floor, paired.bot, paired.share
        rows.extend(_floor_rows(name, floor, sizes))
        rows.append(
            Row(
                f"/tox assess over HTTP, 1 client, {name}",
                f"p50 {bot.p50_ms:.2f} ms, p99 {bot.p99_ms:.2f} ms ({sizes.latency} requests)",
                f"p50 <= {P50_TARGET_MS:g} ms, p99 <= {P99_TARGET_MS:g} ms",
                bot.p50_ms <= P50_TARGET_MS and bot.p99_ms <= P99_TARGET_MS,
                bot.p50_ms,
            )
        )
        rows.append(
            Row(
                f"  same, paced (1 request per {PACE_S * 1e3:.0f} ms), {name}",
                f"p50 {bot.paced_p50_ms:.2f} ms (the bare app's {floor.paced_p50_ms:.2f} ms): "
                "each post done before the next request",
                "(for context)",
                None,
                bot.paced_p50_ms,
            )
        )
        rows.append(
            Row(
                f"  of which the use case, {name}",
                f"p50 {service_ms:.2f} ms: run_line in process, no HTTP, bolt or Block Kit",
                "(for context)",
                None,
                service_ms,
            )
        )
        rows.append(
            Row(
                f"  same, {CLIENTS} clients, {name}",
                f"{bot.per_s:,.0f}/s (a case each; runs {_runs(bot)}): "
                f"{share:.0%} of the bare app's, the median of its runs paired with the "
                f"floor's ({', '.join(f'{s:.0%}' for s in paired.shares)})",
                f">= {SHARE_TARGET:.0%} of bare",
                share >= SHARE_TARGET,
                share,
            )
        )
        rows.append(_cpu_row(name, floor, bot))
        if bot.shared_per_s is not None:
            rows.append(
                Row(
                    f"  same, two clients to a case, {name}",
                    f"{bot.shared_per_s:,.0f}/s = {bot.shared_per_s / floor.per_s:.0%} of bare: "
                    "writes to one case take turns",
                    "(for context)",
                    None,
                    bot.shared_per_s,
                )
            )
    return rows


def _cpu_row(name: str, floor: Measured, bot: Measured) -> Row:
    """Where a request's CPU went at :data:`CLIENTS` clients, the bot's against the floor's,
    and how busy each serving process was: one process, whose interpreter runs one thread at a
    time, so at most one CPU's worth, and what caps throughput when it is near that."""

    def parts(measured: Measured) -> str:
        return ", ".join(f"{part} {ms:.2f}" for part, ms in measured.cpu_ms.items() if ms > 0)

    total_floor, total_bot = sum(floor.cpu_ms.values()), sum(bot.cpu_ms.values())
    measured = (
        f"bot {total_bot:.2f} ms ({parts(bot)}), floor {total_floor:.2f} ms ({parts(floor)}); "
        f"clients not counted; serving process busy {bot.serving_busy:.0%} of a CPU (floor "
        f"{floor.serving_busy:.0%})"
        if available()
        else "not measured: no /proc to read processes' CPU from"
    )
    return Row(
        f"  CPU a request, {CLIENTS} clients, {name}", measured, "(for context)", None, total_bot
    )


def _floor_rows(name: str, floor: Measured, sizes: Sizes) -> list[Row]:
    threads = SQLITE_DISPATCH_THREADS if name == "SQLite" else DISPATCH_THREADS
    serving = f"{threads} thread{'s' if threads > 1 else ''}"
    return [
        Row(
            f"bare bolt app (ack only), 1 client, {name}",
            f"p50 {floor.p50_ms:.2f} ms, p99 {floor.p99_ms:.2f} ms ({sizes.latency} requests); "
            f"served as serve serves {name}: {serving}",
            "(the floor)",
            None,
            floor.p50_ms,
        ),
        Row(
            f"  same, paced (1 request per {PACE_S * 1e3:.0f} ms), {name}",
            f"p50 {floor.paced_p50_ms:.2f} ms: the machine waking from idle for each request",
            "(for context)",
            None,
            floor.paced_p50_ms,
        ),
        Row(
            f"  same, {CLIENTS} clients, {name}",
            f"{floor.per_s:,.0f}/s ({CLIENTS} x {_per_client('bare', sizes)}; runs {_runs(floor)})",
            "(the floor)",
            None,
            floor.per_s,
        ),
    ]


def _runs(measured: Measured) -> str:
    """Each throughput run's figure, in order (the row shows their median)."""
    return ", ".join(f"{per_s:,.0f}" for per_s in measured.per_s_runs)


def _url(engine: Engine) -> str:
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    return url


def main(argv: list[str] | None = None) -> int:
    """Print the Slack table (``--quick`` for a smoke run); other arguments are ignored."""
    from bench.grading_bench import print_section

    return print_section(
        f"Slack face: signed /tox assess over loopback HTTP (uvicorn), {CLIENTS} client "
        f"processes for throughput, every CPU ({os.cpu_count()}) in use",
        lambda quick: slack_rows(quick=quick),
        argv,
    )
