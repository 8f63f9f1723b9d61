"""The bench's stand-in for Slack answers the bot's own Web API client, call after call on one
kept connection: the bench's thread posts are real posts, not failures measured as work."""

from __future__ import annotations

import queue
import threading

from pydantic import SecretStr

from bench.quiet_slack import serve_forever
from bot.app import make_web_client
from bot.settings import Settings


def test_the_bots_client_gets_its_identity_and_a_new_ts_for_each_post() -> None:
    ready: queue.Queue[str] = queue.Queue()
    threading.Thread(target=serve_forever, args=(ready,), daemon=True).start()
    settings = Settings(
        _env_file=None, slack_bot_token=SecretStr("xoxb-bench"), slack_api_url=ready.get(timeout=10)
    )
    client = make_web_client(settings)

    assert client.auth_test()["user_id"] == "UTOXBOT01"
    long_text = "x" * 200_000  # a body that arrives in many reads
    stamps = [
        client.chat_postMessage(channel="C0WARD0001", text=text)["ts"]
        for text in ("first", long_text, "third")
    ]
    assert len(set(stamps)) == 3
    assert all(stamp.startswith("1700000000.") for stamp in stamps)
