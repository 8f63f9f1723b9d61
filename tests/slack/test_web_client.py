"""The Web API client keeps its connection: many calls, one TCP connection, and a connection the
server closed is replaced without the caller seeing an error (against the fake Slack)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError

from bot.app import make_web_client
from bot.settings import Settings
from handlers.web_api import KeepAliveWebClient
from tests.slack.fake_slack import RATE_LIMITED, SERVER_ERROR, FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def client(fake: FakeSlack) -> KeepAliveWebClient:
    settings = Settings(
        _env_file=None, slack_bot_token=SecretStr("xoxb-test"), slack_api_url=fake.url
    )
    made = make_web_client(settings, backoff_s=0.01)
    assert isinstance(made, KeepAliveWebClient)
    return made


def texts(fake: FakeSlack) -> list[str]:
    return [call.args["text"] for call in fake.of("chat.postMessage")]


def test_calls_from_one_thread_share_one_connection(
    fake: FakeSlack, client: KeepAliveWebClient
) -> None:
    for n in range(5):
        assert client.chat_postMessage(channel="C0WARD001", text=f"post {n}")["ok"]
    assert fake.connections == 1
    assert texts(fake) == [f"post {n}" for n in range(5)]
    assert all(call.token == "xoxb-test" for call in fake.calls)


def test_each_thread_has_its_own_connection(fake: FakeSlack, client: KeepAliveWebClient) -> None:
    def post() -> None:
        for _ in range(3):
            client.chat_postMessage(channel="C0WARD001", text="from a thread")

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.of("chat.postMessage")) == 9
    assert fake.connections == 3


def test_a_connection_the_server_closed_is_replaced_and_the_call_sent_once(
    fake: FakeSlack, client: KeepAliveWebClient
) -> None:
    client.chat_postMessage(channel="C0WARD001", text="first")
    fake.drop_connections()  # an idle timeout on Slack's side

    assert client.chat_postMessage(channel="C0WARD001", text="second")["ok"]
    assert texts(fake) == ["first", "second"]
    assert fake.connections == 2


def test_rate_limits_and_server_errors_are_still_the_clients_to_retry(
    fake: FakeSlack, client: KeepAliveWebClient
) -> None:
    fake.fail("chat.postMessage", RATE_LIMITED, retry_after=0)
    fake.fail("chat.postMessage", SERVER_ERROR)

    assert client.chat_postMessage(channel="C0WARD001", text="after two failures")["ok"]
    assert len(fake.of("chat.postMessage")) == 3
    assert fake.connections == 1  # the error answers kept the connection too


def test_a_permanent_error_comes_back_as_slacks_error(
    fake: FakeSlack, client: KeepAliveWebClient
) -> None:
    fake.fail("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C0GONE", text="x")
    assert raised.value.response["error"] == "channel_not_found"
    assert fake.connections == 1


def test_message_bodies_never_reach_the_log_even_at_debug(
    fake: FakeSlack, client: KeepAliveWebClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Free-text notes never reach logs: slack_sdk's DEBUG lines hold whole bodies, and its
    client logger stays at INFO when the root logger is set to DEBUG, for a call that succeeds
    and for one retried until it fails."""
    caplog.set_level(logging.DEBUG)
    note = "Note: wife reports he seemed confused at 3 am"

    assert client.chat_postMessage(channel="C0WARD001", text=note)["ok"]
    fake.fail("chat.postMessage", SERVER_ERROR)
    fake.fail("chat.postMessage", SERVER_ERROR)
    fake.fail("chat.postMessage", SERVER_ERROR)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0WARD001", text=note)

    assert texts(fake)[0] == note
    assert note not in caplog.text
    assert "confused" not in caplog.text
    assert client.logger.name == "toxbot.slack.web_api"
    assert client.logger.getEffectiveLevel() == logging.INFO
