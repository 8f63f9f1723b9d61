"""``toxbot serve``: run the Slack app, over Socket Mode or HTTP (design §7).

* **Socket Mode** when ``SLACK_APP_TOKEN`` is set: toxbot connects out to Slack over a
  WebSocket, so it needs no public URL (suits hospital networks).
* **HTTP** otherwise, on uvicorn (a production ASGI server) with three routes:
  ``POST /slack/events`` (commands, events and interactivity; every request's signature is
  verified by bolt against ``SLACK_SIGNING_SECRET``), ``GET /healthz`` (200 when the database
  answers, else 503) and ``GET /metrics`` (Prometheus text format).

bolt's listeners are synchronous (they talk to the database). Each Slack request is
dispatched on a worker thread, two at once on PostgreSQL and one on SQLite, where writes take
turns (``bot.app.dispatch_threads``); the event loop keeps accepting requests and answering
``/healthz`` meanwhile.
Slack is imported inside the functions here: ``import bot.serve`` loads nothing of it.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Final

from bot.settings import Settings

EXIT_OK: Final = 0
EXIT_CONFIG: Final = 2
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
    from bot.app import (
        EVENTS_PATH,
        build_services,
        create_app,
        http_server,
        make_web_client,
        run_socket_mode,
        start_poster,
        start_slack_reminders,
        start_wal_checkpoints,
    )
    from bot.metrics import Metrics

    services = build_services(settings)
    checkpoints = start_wal_checkpoints(services)  # SQLite: no request's commit checkpoints
    metrics = Metrics()
    client = make_web_client(settings)
    # Thread replies go out from a child process: a post never holds up the next request.
    poster = start_poster(settings, services, client=client, metrics=metrics)
    app = create_app(settings, services, web_client=client, metrics=metrics, poster=poster)
    # Reminders as Slack DMs, dispatched by whichever serve process leads (TOXBOT_REMINDERS=off:
    # none); stopped when serving ends.
    reminders = start_slack_reminders(settings, services, app)
    exit_on_sigterm()
    try:
        if settings.slack_app_token is not None:
            log.info("connecting to Slack over Socket Mode")
            run_socket_mode(app, settings.slack_app_token.get_secret_value(), services)
            return EXIT_OK
        server = http_server(app, services, metrics, host="0.0.0.0", port=settings.toxbot_port)
        log.info("serving Slack requests on port %d at %s", settings.toxbot_port, EVENTS_PATH)
        server.run()
        return EXIT_OK
    finally:
        if reminders is not None:
            reminders.stop()
        poster.stop()
        if checkpoints is not None:
            checkpoints.stop()


def exit_on_sigterm() -> None:
    """Make SIGTERM (systemd, a container stopping) end the process through its ``finally``
    blocks: the reminders give up the leadership and the reply poster sends what it holds.

    uvicorn shuts down gracefully on SIGTERM, then raises the signal again under the handler
    that was there before it; Python's default would end the process at once. Socket Mode
    has no handler of its own, so this one ends it the same way.
    """

    def end(_signum: int, _frame: object) -> None:
        raise SystemExit(EXIT_OK)

    signal.signal(signal.SIGTERM, end)
