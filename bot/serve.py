"""``toxbot serve``: run the Slack app, over Socket Mode or HTTP (design §7).

* **Socket Mode** when ``SLACK_APP_TOKEN`` is set: toxbot connects out to Slack over a
  WebSocket, so it needs no public URL (suits hospital networks).
* **HTTP** otherwise, on uvicorn (a production ASGI server) with three routes:
  ``POST /slack/events`` (commands, events and interactivity; every request's signature is
  verified by bolt against ``SLACK_SIGNING_SECRET``), ``GET /healthz`` (200 when the database
  answers, else 503) and ``GET /metrics`` (Prometheus text format).

bolt's listeners are synchronous (they talk to the database), so each Slack request is
dispatched on a worker thread and the event loop keeps accepting requests meanwhile.
Slack is imported inside the functions here: ``import bot.serve`` loads nothing of it.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Final

from bot.settings import Settings

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from slack_bolt import App
    from slack_sdk import WebClient
    from starlette.applications import Starlette
    from uvicorn import Server

    from bot.metrics import Metrics
    from bot.services.api import Services

EXIT_OK: Final = 0
EXIT_CONFIG: Final = 2
EVENTS_PATH: Final = "/slack/events"
# Slack requests in bolt at once: within what SQLAlchemy's default pool (5 + 10 overflow) serves
# without making a request wait for a connection. More threads only contend for the GIL and the
# database's write lock (measured: no more throughput, a worse p99).
DISPATCH_THREADS: Final = 8
log = logging.getLogger("toxbot.serve")


def serve(settings: Settings) -> int:
    """Run the Slack app until stopped; exit status 2 when the configuration cannot work."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if settings.slack_bot_token is None:
        sys.stderr.write("toxbot serve: set SLACK_BOT_TOKEN (the bot's xoxb- token)\n")
        return EXIT_CONFIG
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        sys.stderr.write(
            "toxbot serve: HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests "
            "(or set SLACK_APP_TOKEN for Socket Mode)\n"
        )
        return EXIT_CONFIG
    from bot.app import build_services, create_app
    from bot.metrics import Metrics

    services = build_services(settings)
    metrics = Metrics()
    app = create_app(settings, services, metrics=metrics)
    from reminders.runtime import reminders_for
    from reminders.slack_notifier import make_slack_notifier

    # Reminders as Slack DMs, dispatched by whichever serve process leads (TOXBOT_REMINDERS=off:
    # none); stopped when serving ends.
    notifier = make_slack_notifier(settings, protocol=services.protocol, client=app.client)
    reminders = reminders_for(settings, services, notifier) if notifier is not None else None
    try:
        if settings.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            log.info("connecting to Slack over Socket Mode")
            SocketModeHandler(
                app, settings.slack_app_token.get_secret_value(), web_client=app.client
            ).start()  # type: ignore[no-untyped-call]
            return EXIT_OK
        server = http_server(app, services, metrics, host="0.0.0.0", port=settings.toxbot_port)
        log.info("serving Slack requests on port %d at %s", settings.toxbot_port, EVENTS_PATH)
        server.run()
        return EXIT_OK
    finally:
        if reminders is not None:
            reminders.stop()


def asgi_app(app: App, services: Services, metrics: Metrics) -> Starlette:
    """The ASGI application: Slack requests through bolt, health and metrics."""
    from anyio import CapacityLimiter, to_thread
    from slack_bolt import BoltRequest
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    limiter = CapacityLimiter(DISPATCH_THREADS)

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


def http_server(app: App, services: Services, metrics: Metrics, *, host: str, port: int) -> Server:
    """A uvicorn server for :func:`asgi_app` (``server.run()`` blocks; tests run it in a thread)."""
    import uvicorn

    config = uvicorn.Config(
        asgi_app(app, services, metrics),
        host=host,
        port=port,
        lifespan="off",
        access_log=False,  # request lines carry no clinical data, but keep the log for what matters
        log_level="warning",
        server_header=False,
    )
    return uvicorn.Server(config)


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
    from bot.app import create_app
    from bot.metrics import Metrics

    metrics = Metrics()
    app = create_app(settings, services, web_client=web_client, executor=executor, metrics=metrics)
    return http_server(app, services, metrics, host=host, port=port), metrics
