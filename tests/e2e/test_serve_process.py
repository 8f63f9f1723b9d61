"""``toxbot serve`` as an operator runs it: a real process in HTTP mode against the fake Slack.

A signed ``/tox assess`` is answered with the grades, the thread reply arrives at the fake Web
API (posted by serve's reply-poster child process), and SIGTERM ends the process cleanly:
exit status 0, its child gone.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import TOXBOT
from tests.slack.fake_slack import FakeSlack
from tests.slack.signing import SlackSender

SECRET = "e2e-signing-secret-0123456789abcdef"
ADMIN = "U0ADMIN001"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads child processes from /proc")
def test_serve_answers_posts_the_thread_reply_from_its_child_and_stops_on_sigterm(
    fake: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-e2e",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'toxbot.db'}",
        "TOXBOT_PORT": str(port),
        "TOXBOT_ADMINS": ADMIN,
        "TOXBOT_REMINDERS": "off",
    }
    env.pop("SLACK_APP_TOKEN", None)
    process = subprocess.Popen(
        [str(TOXBOT), "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sender = SlackSender("127.0.0.1", port, SECRET)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if sender.get("/healthz").status == 200:
                    break
            except OSError:
                sender.close()
                sender = SlackSender("127.0.0.1", port, SECRET)
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "toxbot serve did not start"
            time.sleep(0.1)
        assert children_of(process.pid), "the reply poster child is running"

        new = sender.command("new product=axi-cel infused=2026-11-20T09:30 weight=72", user=ADMIN)
        assert new.status == 200
        registered = re.search(r"Registered case (\S+) ", new.json()["text"])
        assert registered, new.json()["text"]
        code = registered.group(1)
        assess = sender.command(
            f"assess {code} temp=39.4 pressors=1 o2=nc:3 ice=7 loc=alert signs=none", user=ADMIN
        )
        assert assess.status == 200
        assert "CRS grade 3" in assess.json()["text"]
        posts = fake.wait_for("chat.postMessage", 3, timeout=20)  # root, new case, assessment
        (root,) = [post for post in posts if "thread_ts" not in post.args]
        (reply,) = [post for post in posts if "CRS grade 3" in post.args["text"]]
        assert reply.args["thread_ts"] == root.answer["ts"]
    finally:
        sender.close()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, process.stderr.read() if process.stderr else ""
    deadline = time.monotonic() + 5
    while children_of(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not children_of(process.pid)
