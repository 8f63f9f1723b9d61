"""``toxbot serve``'s HTTP face: health, metrics, configuration refusals, and the import wall."""

from __future__ import annotations

import gc
import json
import sqlite3
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from bot.app import create_app, http_server
from bot.db.engine import make_engine
from bot.db.migrate import upgrade
from bot.db.models import Assessment
from bot.metrics import Metrics
from bot.protocol_files import load_protocol
from bot.serve import EXIT_CONFIG, serve
from bot.services.api import Services
from bot.settings import Settings
from tests.integration.conftest import FakeClock
from tests.slack.conftest import (
    CLINICIAN,
    SECRET,
    SlackBot,
    bot_settings,
    seeded_services,
    serving,
)
from tests.slack.fake_slack import FakeSlack
from tests.slack.server import running
from tests.slack.signing import Response, SlackSender


def test_healthz_answers_ok_while_the_database_answers(bot: SlackBot) -> None:
    response = bot.sender.get("/healthz")

    assert response.status == 200
    assert response.body == b"ok\n"


def test_healthz_answers_503_when_the_database_cannot_be_reached(fake_slack: FakeSlack) -> None:
    from bot.app import create_app

    engine = make_engine(
        "postgresql+psycopg://postgres@127.0.0.1:9/nowhere", connect_args={"connect_timeout": 1}
    )
    services = Services(
        sessions=sessionmaker(engine), clock=FakeClock(), protocol=load_protocol(environ={})
    )
    metrics = Metrics()
    app = create_app(bot_settings(fake_slack.url), services, metrics=metrics)
    with running(http_server(app, services, metrics, host="127.0.0.1", port=0)) as port:
        sender = SlackSender("127.0.0.1", port, "unused")
        assert sender.get("/healthz").status == 503
        sender.close()
    engine.dispose()


def test_metrics_count_requests_acks_and_latency_in_prometheus_text(bot: SlackBot) -> None:
    bot.sender.command("help", user=CLINICIAN)
    bot.sender.post("forged=1", "application/x-www-form-urlencoded", signed=False)

    response = bot.sender.get("/metrics")

    text = response.body.decode()
    assert response.status == 200
    assert 'toxbot_requests{status="200"} 1' in text
    assert 'toxbot_requests{status="401"} 1' in text
    assert "toxbot_acks 1" in text
    assert 'toxbot_request_seconds_bucket{le="+Inf"} 2' in text
    assert "# TYPE toxbot_request_seconds histogram" in text


def test_serve_refuses_to_start_without_a_bot_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve(Settings(_env_file=None, slack_bot_token=None)) == EXIT_CONFIG
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err


def test_http_mode_refuses_to_start_without_a_signing_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(
        _env_file=None,
        slack_bot_token=SecretStr("xoxb-x"),
        slack_signing_secret=None,
        slack_app_token=None,
    )

    assert serve(settings) == EXIT_CONFIG
    assert "SLACK_SIGNING_SECRET" in capsys.readouterr().err


def test_nothing_of_slack_loads_for_the_grading_cli_or_at_import() -> None:
    """design §1: ``toxbot grade`` never loads Slack; importing the app builds nothing."""
    code = (
        "import sys, io, contextlib\n"
        "import bot.app, bot.serve, bot.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    bot.cli.main(['grade', '--text', 'temp=39'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'slack_bolt', 'slack_sdk', 'uvicorn', 'starlette', 'handlers'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "[]"


def test_serve_uses_socket_mode_when_an_app_token_is_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    from slack_bolt.adapter import socket_mode

    started: list[tuple[object, str, object]] = []

    class FakeHandler:
        def __init__(self, app: object, app_token: str, **options: object) -> None:
            started.append((app, app_token, options.get("concurrency")))

        def start(self) -> None:
            return None

    monkeypatch.setattr(socket_mode, "SocketModeHandler", FakeHandler)
    settings = Settings(
        _env_file=None,
        slack_bot_token=SecretStr("xoxb-x"),
        slack_app_token=SecretStr("xapp-1-test"),
        slack_api_url=fake_slack.url,
        database_url=SecretStr(f"sqlite:///{tmp_path / 'toxbot.db'}"),
    )

    assert serve(settings) == 0
    ((app, token, concurrency),) = started
    assert token == "xapp-1-test"
    assert type(app).__name__ == "App"
    assert concurrency == 1  # SQLite: one request at a time, as over HTTP (dispatch_threads)


def test_the_url_verification_challenge_is_answered(bot: SlackBot) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"token": "t", "challenge": challenge, "type": "url_verification"})

    response = bot.sender.post(body, "application/json")

    assert response.status == 200
    assert challenge.encode() in response.body


def test_the_http_server_gives_threads_short_turns_at_the_interpreter_lock(
    fake_slack: FakeSlack,
) -> None:
    """A serving process switches threads every millisecond, not Python's 5 ms: a request
    whose database answer has arrived does not wait behind another request's grading."""
    from bot.app import SWITCH_INTERVAL_S, create_app

    before = sys.getswitchinterval()
    engine = make_engine("sqlite://")
    services = Services(
        sessions=sessionmaker(engine), clock=FakeClock(), protocol=load_protocol(environ={})
    )
    metrics = Metrics()
    try:
        sys.setswitchinterval(0.005)
        http_server(
            create_app(bot_settings(fake_slack.url), services, metrics=metrics),
            services,
            metrics,
            host="127.0.0.1",
            port=0,
        )
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        assert SWITCH_INTERVAL_S < 0.005
    finally:
        sys.setswitchinterval(before)
        engine.dispose()


def test_the_http_server_takes_what_startup_made_out_of_the_collectors_sight(
    fake_slack: FakeSlack,
) -> None:
    """Full garbage collections skip the app, its services and the modules: alive for the
    whole process, they were each collection's pause on a request. Garbage startup left is
    collected first, not frozen with them."""
    engine = make_engine("sqlite://")
    services = Services(
        sessions=sessionmaker(engine), clock=FakeClock(), protocol=load_protocol(environ={})
    )
    metrics = Metrics()
    app = create_app(bot_settings(fake_slack.url), services, metrics=metrics)
    garbage: list[object] = []
    garbage.append(garbage)  # a cycle only a collection frees
    watch = weakref.ref(_Collectable(garbage))
    del garbage
    gc.unfreeze()
    try:
        assert _seen_by_the_collector(app)
        http_server(app, services, metrics, host="127.0.0.1", port=0)
        assert gc.get_freeze_count() > 0
        assert not _seen_by_the_collector(app)  # frozen: no collection walks it any more
        assert watch() is None  # collected before the freeze
    finally:
        gc.unfreeze()
        engine.dispose()


def _seen_by_the_collector(thing: object) -> bool:
    return any(tracked is thing for tracked in gc.get_objects())


class _Collectable:
    """An object in a reference cycle, for a weak reference to watch."""

    def __init__(self, cycle: list[object]) -> None:
        cycle.append(self)
        self.cycle = cycle


def test_requests_take_turns_on_sqlite_and_overlap_on_postgresql() -> None:
    """SQLite writes one at a time and lets go of the interpreter lock in every statement: a
    second thread only makes the writer wait (bot.app.SQLITE_DISPATCH_THREADS)."""
    from bot.app import DISPATCH_THREADS, SQLITE_DISPATCH_THREADS, dispatch_threads

    def threads_for(url: str) -> int:
        engine = make_engine(url)  # nothing connects: the dialect decides
        services = Services(
            sessions=sessionmaker(engine), clock=FakeClock(), protocol=load_protocol(environ={})
        )
        return dispatch_threads(services)

    assert threads_for("sqlite://") == SQLITE_DISPATCH_THREADS == 1
    assert threads_for("postgresql+psycopg://toxbot@db:5432/toxbot") == DISPATCH_THREADS > 1


def test_health_is_answered_while_a_sqlite_request_waits_for_the_write_lock(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """A request waiting for SQLite's write lock (held by another process) holds up only its
    own thread: the event loop answers ``/healthz`` meanwhile, and the record lands once the
    lock is let go."""
    path = tmp_path / "toxbot.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    services, code = seeded_services(engine, FakeClock())
    held_s = 1.5  # under SQLite's busy timeout: the request waits, then records
    with serving(services, fake_slack) as (sender, _):
        other_writer = sqlite3.connect(path, isolation_level=None)
        other_writer.execute("BEGIN IMMEDIATE")  # another process's write transaction
        answered: dict[str, tuple[float, Response]] = {}

        def assess() -> None:
            clinician = SlackSender("127.0.0.1", sender.port, SECRET)
            answer = clinician.command(f"assess {code} temp=39 o2=ra ice=10", user=CLINICIAN)
            answered["assess"] = (time.monotonic(), answer)
            clinician.close()

        waiting = threading.Thread(target=assess)
        waiting.start()
        time.sleep(0.3)  # the request is at SQLite's lock by now (it needs a few milliseconds)
        asked = time.monotonic()
        health = sender.get("/healthz")
        health_s = time.monotonic() - asked
        pending = "assess" not in answered
        time.sleep(max(0.0, held_s - (time.monotonic() - asked)))
        released = time.monotonic()
        other_writer.execute("ROLLBACK")
        waiting.join(10)
        other_writer.close()

    assert health.status == 200
    assert health_s < 1.0
    assert pending  # healthz was answered while the request still waited
    at, answer = answered["assess"]
    assert at >= released  # it waited for the lock...
    assert answer.status == 200
    assert b"CRS between grade 1 and 4" in answer.body  # ...and then recorded
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(Assessment)).scalar_one()
    assert stored == 1
    engine.dispose()
