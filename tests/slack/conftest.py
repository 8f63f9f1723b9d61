"""Scenario fixtures: the bot's real HTTP server on loopback, against a fake Slack Web API.

Each test gets a database on each engine (``database`` from the integration fixtures), members
with each role, one registered case, the app built by ``bot.app.create_app`` behind uvicorn as
``toxbot serve`` runs it, and a sender that signs requests as Slack does.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from bot.app import build_http, make_web_client
from bot.db import models
from bot.db.engine import session_factory
from bot.metrics import Metrics
from bot.protocol_files import load_protocol
from bot.services.api import OPERATOR, Services
from bot.settings import Settings
from tests.integration.conftest import FakeClock, database, postgres_url
from tests.slack.blockkit import assert_valid_message, assert_valid_view
from tests.slack.fake_slack import FakeSlack
from tests.slack.payloads import sent_payload
from tests.slack.server import running
from tests.slack.signing import SlackSender

__all__ = ["database", "postgres_url"]  # the engine-parametrised fixtures, shared

SECRET: Final = "8f742231b10e8888abcd99yyyzzz85a5"
CLINICIAN: Final = "U0CLIN0001"
NURSE: Final = "U0NURSE001"
LEAD: Final = "U0LEAD0001"
STRANGER: Final = "U0NOBODY01"
WARD: Final = "C0WARD001"


@dataclass
class SlackBot:
    """The running bot and what a test needs around it."""

    sender: SlackSender
    fake: FakeSlack
    services: Services
    engine: Engine
    metrics: Metrics
    clock: FakeClock
    code: str  # a registered, active case

    def rows(self, model: Any) -> int:
        """How many rows ``model``'s table holds."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(model)).scalar_one())

    def denials(self, action: str) -> int:
        """Audited denials of ``action``."""
        with self.engine.connect() as connection:
            query = select(func.count()).where(models.AuditEvent.action == f"denied:{action}")
            return int(connection.execute(query).scalar_one())


def bot_settings(api_url: str) -> Settings:
    """Settings for a bot whose Web API is the fake's."""
    return Settings(
        _env_file=None,
        slack_bot_token=SecretStr("xoxb-test-token"),
        slack_signing_secret=SecretStr(SECRET),
        slack_api_url=api_url,
        toxbot_timezone="UTC",
    )


def seeded_services(engine: Engine, clock: FakeClock) -> tuple[Services, str]:
    """Services with a member of each role and one active case; the case's code."""
    services = Services(
        sessions=session_factory(engine), clock=clock, protocol=load_protocol(environ={})
    )
    for user, role in ((CLINICIAN, "clinician"), (NURSE, "nurse"), (LEAD, "lead")):
        services.set_role(OPERATOR, user, role)
    case = services.register_case(
        OPERATOR,
        {
            "product": "axi-cel",
            "infused_at": datetime(2026, 11, 19, 9, 0, tzinfo=UTC),
            "weight_kg": 74,
            "age_years": 58,
        },
    )
    return services, case.code


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@contextmanager
def serving(services: Services, fake: FakeSlack) -> Iterator[tuple[SlackSender, Metrics]]:
    """The bot's HTTP server over ``services``, posting to ``fake``, and a signing sender to it;
    the background posts are finished when the block ends."""
    settings = bot_settings(fake.url)
    executor = ThreadPoolExecutor(2, thread_name_prefix="test-post")
    server, metrics = build_http(
        settings,
        services,
        host="127.0.0.1",
        port=0,
        web_client=make_web_client(settings, backoff_s=0.01),
        executor=executor,
    )
    with running(server) as port:
        sender = SlackSender("127.0.0.1", port, SECRET)
        yield sender, metrics
        sender.close()
    executor.shutdown(wait=True)


@pytest.fixture
def bot(database: Engine, fake_slack: FakeSlack) -> Iterator[SlackBot]:
    clock = FakeClock()
    services, code = seeded_services(database, clock)
    with serving(services, fake_slack) as (sender, metrics):
        yield SlackBot(sender, fake_slack, services, database, metrics, clock, code)
    assert_everything_sent_is_valid(fake_slack)


def assert_everything_sent_is_valid(fake: FakeSlack) -> None:
    """Every message and view the bot sent in the test passes the Block Kit checks."""
    for call in fake.calls:
        if call.method in {"chat.postMessage", "chat.postEphemeral"}:
            assert_valid_message(sent_payload(call.args))
        elif call.method in {"views.open", "views.publish"}:
            assert_valid_view(call.args["view"])
