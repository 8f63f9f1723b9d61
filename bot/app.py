"""The composition root: the one place that builds engines, sessions, the protocol and services.

Nothing here runs at import; each front end (CLI, console, Slack) calls ``build_services`` when a
command needs it, and ``toxbot serve`` (``bot.serve``) calls ``create_app`` and the transports
below (the ASGI app on uvicorn, or Socket Mode). The reminders each front end runs are started
here too: design §1 lets only this module import ``handlers``, ``reminders`` and bolt. Slack is
imported inside these functions only, so ``toxbot grade`` never loads it.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Final, TextIO

from bot.clock import Clock, SystemClock
from bot.db.engine import make_engine, session_factory
from bot.protocol_files import load_protocol
from bot.services.api import Services
from bot.services.audit import record_audit
from bot.services.members import ensure_admins
from bot.settings import Settings

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_sdk import WebClient
    from starlette.applications import Starlette
    from uvicorn import Server

    from bot.db.checkpoints import WalCheckpoints
    from bot.metrics import Metrics
    from handlers.delivery import Poster
    from reminders.runtime import RunningReminders

SLACK_API_URL: Final = "https://slack.com/api/"
POSTER_THREADS: Final = 4  # background Web API calls in flight at once


def build_services(settings: Settings | None = None, *, clock: Clock | None = None) -> Services:
    """Services over the configured database (upgraded first when configured) and protocol."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url.get_secret_value())
    if settings.toxbot_auto_upgrade:
        from bot.db.migrate import upgrade  # Alembic: only for a process that upgrades

        upgrade(engine)
    sessions = session_factory(engine)
    if settings.admin_ids:
        now = clock.now()
        with sessions.begin() as session:
            for user in ensure_admins(session, settings.admin_ids, now):
                record_audit(
                    session,
                    at=now,
                    actor="TOXBOT_ADMINS",
                    action="role.set",
                    source="startup",
                    object_type="member",
                    object_id=user,
                    detail={"role": "admin"},
                )
    return Services(
        sessions=sessions, clock=clock, protocol=load_protocol(settings.toxbot_protocol or None)
    )


def make_web_client(settings: Settings, *, backoff_s: float = 0.5) -> WebClient:
    """The Slack Web API client: bot token, ``SLACK_API_URL``, and retries for what is transient.

    Its connection is kept alive between calls (``handlers.web_api``): no new TCP and TLS setup
    for every post.

    Retried: 429 (after the ``Retry-After`` Slack gives), 500/502/503/504 and dropped or refused
    connections, with exponential backoff from ``backoff_s``. Anything else (``channel_not_found``,
    ``user_not_found``, a bad token) is permanent and raised at once for the caller to report.
    """
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.http_retry.builtin_interval_calculators import (
        BackoffRetryIntervalCalculator,
    )

    class TransientServerErrors(ServerErrorRetryHandler):
        """500, 502, 503 and 504 (the built-in handler retries 500 and 503 only)."""

        def _can_retry(self, *, response: object = None, **_: object) -> bool:
            return getattr(response, "status_code", None) in {500, 502, 503, 504}

    from handlers.web_api import KeepAliveWebClient

    backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_s)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    base_url = settings.slack_api_url or SLACK_API_URL
    return KeepAliveWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=10,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=2),
            TransientServerErrors(max_retry_count=2, interval_calculator=backoff),
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
        ],
    )


def create_app(
    settings: Settings,
    services: Services,
    *,
    web_client: WebClient | None = None,
    executor: Executor | None = None,
    metrics: Metrics | None = None,
    poster: Poster | None = None,
) -> App:
    """The Slack app: bolt, the handlers of every surface, the middleware and the error handler.

    ``process_before_response``: a listener's work is its reply, so bolt returns the listener's
    ack as the HTTP response instead of acking first and polling (design §10); everything slow
    is handed to the background ``executor`` (the thread posts, forms, the home tab), or to
    ``poster`` when given (:func:`start_poster`: the thread posts from a child process).
    Signatures are verified whenever a signing secret is configured (HTTP mode needs one).
    """
    from zoneinfo import ZoneInfo

    from slack_bolt import App

    from bot.metrics import Metrics
    from handlers import (
        actions,
        commands,
        errors,
        home,
        messages,
        middleware,
        reminder_actions,
        views,
    )
    from handlers.delivery import Poster

    client = web_client or make_web_client(settings)
    metrics = metrics or Metrics()
    secret = settings.slack_signing_secret
    app = App(
        client=client,
        logger=bolt_logger(),
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=secret is not None,
        process_before_response=True,
        token_verification_enabled=False,  # auth.test runs on the first request, not at import
    )
    poster = poster or Poster(
        client=client, services=services, executor=executor or _post_threads(), metrics=metrics
    )
    zone = ZoneInfo(settings.toxbot_timezone)
    dedupe = middleware.event_dedupe(services, metrics)
    middleware.register(app)
    commands.register(app, services=services, poster=poster, zone=zone)
    messages.register(app, services=services, poster=poster, zone=zone, dedupe=dedupe)
    views.register(app, services=services, poster=poster, zone=zone)
    actions.register(app, services=services, poster=poster, zone=zone)
    reminder_actions.register(app, services=services, poster=poster, zone=zone)
    home.register(app, services=services, poster=poster, dedupe=dedupe)
    errors.register(app, services=services, poster=poster, metrics=metrics)
    return app


BOLT_LOGGER: Final = "toxbot.slack.bolt"


def bolt_logger() -> logging.Logger:
    """bolt's logger, held at INFO whatever the root logger's level: bolt's DEBUG lines hold
    every answer's body (grades, and a refused value as it was typed), which must not reach a
    log. bolt copies its level from the root logger when the app is built otherwise."""
    logger = logging.getLogger(BOLT_LOGGER)
    logger.setLevel(logging.INFO)
    return logger


def start_poster(
    settings: Settings, services: Services, *, client: WebClient, metrics: Metrics
) -> Poster:
    """What ``toxbot serve`` posts with: thread replies from a child process
    (``handlers.post_process``), so a post never holds up the next request; in the process when
    the database is in-memory SQLite, which a child cannot open. :meth:`Poster.stop` it."""
    from handlers.delivery import Poster
    from handlers.post_process import ProcessPoster, can_post_from_a_process

    if not can_post_from_a_process(settings):
        return Poster(client=client, services=services, executor=_post_threads(), metrics=metrics)
    return ProcessPoster(
        settings=settings,
        client=client,
        services=services,
        executor=_post_threads(),
        metrics=metrics,
    ).start()


def _post_threads() -> Executor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(POSTER_THREADS, thread_name_prefix="toxbot-post")


# ---------------------------------------------------------------------------------------------
# Transports (``toxbot serve``) and the reminders each front end runs

EVENTS_PATH: Final = "/slack/events"
# Slack requests in bolt at once on PostgreSQL: within SQLAlchemy's default pool (5
# connections), and enough to overlap PostgreSQL's round trips (a record waits about 0.6 ms for
# its one statement and spends twice that in Python). More threads only contend for the
# interpreter lock, and on one case for its revision (measured with the reply posts in their own
# process: 8 threads gave 104-152/s at 8 clients, 4 gave 256-264/s; since, the median of three
# runs at 8 clients: 2 threads 494-498/s, 3 threads 464-513/s, 4 threads 453-485/s).
DISPATCH_THREADS: Final = 2
# On SQLite, one: SQLite takes one write at a time, and its driver lets go of the interpreter
# lock in every statement, so a second request thread takes the lock from the writer six times
# a record and makes it wait while it holds SQLite's (2 or 4 threads: 438-443/s at 8 clients).
# One thread, not the event loop's own: the loop then goes on accepting connections and
# answering /healthz and /metrics while a request runs, or waits for SQLite's write lock (up to
# its busy timeout, 5 s) behind another process. Run in the loop, the bot recorded more
# (666-727/s against 558-589/s on one thread, measured at 8 clients in the same hour) and
# answered sooner (p50 1.65 ms against 1.9-2.0 ms at one client: the hand-over to the thread
# and back), but answered nothing else meanwhile.
SQLITE_DISPATCH_THREADS: Final = 1


def dispatch_threads(services: Services) -> int:
    """How many Slack requests run in bolt at once, each on a thread of its own, for
    ``services``' database: :data:`SQLITE_DISPATCH_THREADS` on SQLite, else
    :data:`DISPATCH_THREADS`. Never on the event loop's own thread."""
    return SQLITE_DISPATCH_THREADS if services.embedded_database else DISPATCH_THREADS


def asgi_app(
    app: App, services: Services, metrics: Metrics, *, threads: int | None = None
) -> Starlette:
    """The ASGI application: Slack requests through bolt, health and metrics; ``threads``
    Slack requests in bolt at once, each on a thread of its own (default:
    :func:`dispatch_threads` for ``services``)."""
    from anyio import CapacityLimiter, to_thread
    from slack_bolt import BoltRequest
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    count = dispatch_threads(services) if threads is None else threads
    if count < 1:
        raise ValueError(f"threads must be at least 1, not {count}")
    limiter = CapacityLimiter(count)

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        body = await request.body()
        bolt_request = BoltRequest(
            body=body.decode("utf-8", errors="replace"),  # a bad byte fails the signature check
            query=str(request.url.query),
            headers={key: [value] for key, value in request.headers.items()},
        )
        result = await to_thread.run_sync(app.dispatch, bolt_request, limiter=limiter)
        metrics.count("requests", status=str(result.status))
        if result.status < 300:
            metrics.count("acks")
        elif result.status >= 500:
            metrics.count("request_errors")
        metrics.observe_latency(time.perf_counter() - started)
        return Response(
            content=result.body,
            status_code=result.status,
            headers={k: v[0] for k, v in result.headers.items() if v and k != "content-length"},
        )

    async def healthz(_: Request) -> Response:
        up = await run_in_threadpool(services.database_reachable)
        return PlainTextResponse("ok\n" if up else "database unreachable\n", 200 if up else 503)

    async def metrics_text(_: Request) -> Response:
        return PlainTextResponse(
            metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    return Starlette(
        routes=[
            Route(EVENTS_PATH, slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_text, methods=["GET"]),
        ]
    )


def http_server(
    app: App,
    services: Services,
    metrics: Metrics,
    *,
    host: str,
    port: int,
    threads: int | None = None,
) -> Server:
    """A uvicorn server for :func:`bot.app.asgi_app` (``server.run()`` blocks; tests run it in a
    thread). ``threads``: as :func:`asgi_app`."""
    import uvicorn

    take_short_interpreter_turns()
    freeze_startup_objects()
    config = uvicorn.Config(
        asgi_app(app, services, metrics, threads=threads),
        host=host,
        port=port,
        lifespan="off",
        access_log=False,  # request lines carry no clinical data, but keep the log for what matters
        log_level="warning",
        server_header=False,
    )
    return uvicorn.Server(config)


# How long a thread may hold the interpreter lock while another waits for it (Python's default:
# 5 ms). A request thread whose database answer has arrived waits up to this long for a thread
# that is grading; 1 ms let more requests overlap their round trips (measured at 8 clients on
# PostgreSQL: 127-136/s at 5 ms, 146-160/s at 0.5-1 ms, 148/s at 0.2 ms, the machine slow that
# hour; SQLite unchanged), at no cost in CPU per request.
SWITCH_INTERVAL_S: Final = 0.001


def take_short_interpreter_turns() -> None:
    """Set :data:`SWITCH_INTERVAL_S` for this process (a serving process: it is process-wide)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def freeze_startup_objects() -> None:
    """Take every object alive now (modules, the protocol, the app and its services) out of the
    cyclic garbage collector's sight, for the rest of the process (``gc.freeze``).

    A full collection traverses every tracked object. A serving process starts with about
    100,000 of them, which live as long as it does and never need collecting, and each full
    collection over them was a pause of tens of milliseconds on whichever request was running
    (64 ms over 108,000 objects, measured in process on the slow machine). Frozen, the
    collector only walks what serving made since: at 8 clients on PostgreSQL, 3.2-3.8 ms of the
    serving process's CPU per request instead of 3.4-4.2 ms, 227-271/s instead of 205-238/s.
    """
    gc.collect()  # what startup left as garbage goes first: frozen, it would stay
    gc.freeze()


def build_http(
    settings: Settings,
    services: Services,
    *,
    host: str,
    port: int,
    web_client: WebClient | None = None,
    executor: Executor | None = None,
) -> tuple[Server, Metrics]:
    """The bot's app on an HTTP server, as ``serve`` builds it (for tests and the bench)."""
    from bot.metrics import Metrics

    metrics = Metrics()
    app = create_app(settings, services, web_client=web_client, executor=executor, metrics=metrics)
    return http_server(app, services, metrics, host=host, port=port), metrics


def run_socket_mode(app: App, app_token: str, services: Services) -> None:
    """Serve ``app`` over Socket Mode until stopped: no public URL needed.

    As many requests at once as over HTTP (:func:`dispatch_threads`; one on SQLite), not
    bolt's default of ten threads, which on SQLite would only queue for its write lock.
    """
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    take_short_interpreter_turns()
    freeze_startup_objects()
    SocketModeHandler(  # type: ignore[no-untyped-call]
        app, app_token, web_client=app.client, concurrency=dispatch_threads(services)
    ).start()


def start_wal_checkpoints(services: Services) -> WalCheckpoints | None:
    """SQLite file: its WAL checkpointed from a thread of this process, not from a request's
    commit (:mod:`bot.db.checkpoints`); None on any other database. :meth:`stop` it."""
    from bot.db.checkpoints import WalCheckpoints, is_sqlite_file

    engine = services.bind
    if engine is None or not is_sqlite_file(engine):
        return None
    return WalCheckpoints(engine).start()


def start_slack_reminders(
    settings: Settings, services: Services, app: App
) -> RunningReminders | None:
    """Reminders delivered as Slack DMs through ``app``'s client (None when switched off)."""
    from reminders.runtime import reminders_for
    from reminders.slack_notifier import make_slack_notifier

    notifier = make_slack_notifier(settings, protocol=services.protocol, client=app.client)
    return reminders_for(settings, services, notifier) if notifier is not None else None


def start_console_reminders(
    settings: Settings, services: Services, stream: TextIO
) -> RunningReminders | None:
    """Reminders printed to ``stream`` as they fire (None when switched off)."""
    from reminders.notifier import ConsoleNotifier
    from reminders.runtime import reminders_for

    return reminders_for(settings, services, ConsoleNotifier(stream))
