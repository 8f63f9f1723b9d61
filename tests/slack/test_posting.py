"""Thread replies as ``toxbot serve`` posts them: from a child process, against the fake Slack;
and a new case's thread opened once however many replies arrive for it at once."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, cast
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from bot.app import build_services, make_web_client, start_poster
from bot.commands import run_line
from bot.metrics import Metrics
from bot.replies import Reply
from bot.services.api import OPERATOR, Services
from bot.services.threads import CaseThread
from bot.settings import Settings
from handlers.delivery import Poster
from handlers.post_process import ProcessPoster, can_post_from_a_process
from tests.integration.conftest import FakeClock
from tests.slack.blockkit import assert_valid_message
from tests.slack.conftest import WARD, seeded_services
from tests.slack.fake_slack import RATE_LIMITED, FakeSlack
from tests.slack.payloads import sent_payload

UTC = ZoneInfo("UTC")


def replies(services: Services, code: str, count: int) -> list[Reply]:
    """The thread replies of ``count`` recorded assessments."""
    made = []
    for _ in range(count):
        result = run_line(services, OPERATOR, f"assess {code} temp=39 o2=ra ice=10", zone=UTC)
        assert result.thread is not None
        made.append(result.thread)
    return made


def reply_of(services: Services, code: str, findings: str) -> Reply:
    """The thread reply of one recorded assessment of ``findings``."""
    result = run_line(services, OPERATOR, f"assess {code} {findings}", zone=UTC)
    assert result.thread is not None, result.ack.summary
    return result.thread


TEMPS: Final = ("39.1", "39.2", "39.3")


def roots(fake: FakeSlack) -> list[str]:
    return [c.args["text"] for c in fake.of("chat.postMessage") if "thread_ts" not in c.args]


def settings_for(fake: FakeSlack, database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        slack_bot_token=SecretStr("xoxb-test-token"),
        slack_api_url=fake.url,
        database_url=SecretStr(database_url),
    )


def served(fake: FakeSlack, folder: Path) -> tuple[Services, str, ProcessPoster, Metrics]:
    """As ``toxbot serve`` sets up: services on a SQLite file, a case, the poster started."""
    settings = settings_for(fake, f"sqlite:///{folder / 'toxbot.db'}")
    services = build_services(settings)
    code = services.register_case(
        OPERATOR, {"product": "axi-cel", "infused_at": services.now(), "weight_kg": 74}
    ).code
    metrics = Metrics()
    poster = start_poster(settings, services, client=make_web_client(settings), metrics=metrics)
    assert isinstance(poster, ProcessPoster)
    return services, code, poster, metrics


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


def test_replies_for_a_new_case_sent_at_once_open_its_thread_once(
    database: Engine, fake: FakeSlack
) -> None:
    services, code = seeded_services(database, FakeClock())
    settings = settings_for(fake, database.url.render_as_string(hide_password=False))
    executor = ThreadPoolExecutor(4)
    poster = Poster(
        client=make_web_client(settings), services=services, executor=executor, metrics=Metrics()
    )
    for n, reply in enumerate(replies(services, code, 8)):
        poster.to_case_thread(reply, key=f"slash:{n}", channel=WARD, user="U0CLIN0001")
    executor.shutdown(wait=True)

    assert len(roots(fake)) == 1
    in_thread = [c for c in fake.of("chat.postMessage") if "thread_ts" in c.args]
    assert len(in_thread) == 8
    assert {c.args["thread_ts"] for c in in_thread} == {services.case_thread(code).ts}


def test_serve_posts_thread_replies_from_a_child_process_and_counts_them_here(
    fake: FakeSlack, tmp_path: Path
) -> None:
    services, code, poster, metrics = served(fake, tmp_path)
    try:
        for n, reply in enumerate(replies(services, code, 5)):
            poster.to_case_thread(reply, key=f"slash:{n}", channel=WARD, user="U0CLIN0001")
        poster.to_case_thread(reply, key="slash:0", channel=WARD, user="U0CLIN0001")  # a replay
    finally:
        poster.stop()  # sends what it was given first

    posts = fake.of("chat.postMessage")
    assert len(posts) == 6  # the thread root and five replies; the replay posted nothing
    assert len(roots(fake)) == 1
    for call in posts:
        assert_valid_message(sent_payload(call.args))
    assert metrics.value("webapi_calls", method="chat.postMessage") == 6  # counted in this process
    assert services.case_thread(code).ts == posts[0].answer["ts"]


def test_serve_starts_answering_only_once_its_reply_poster_can_post(
    fake: FakeSlack, tmp_path: Path
) -> None:
    """Starting the child is seconds of CPU: paid before serving, not by the first requests."""
    _, _, poster, _ = served(fake, tmp_path)
    try:
        assert poster.ready()
        child = poster._child
        assert child is not None
        child.process.kill()
        child.process.join(5)
        assert not poster.ready()
    finally:
        poster.stop()


def test_a_child_that_died_is_started_again_on_the_next_post(
    fake: FakeSlack, tmp_path: Path
) -> None:
    services, code, poster, metrics = served(fake, tmp_path)
    try:
        first, second = replies(services, code, 2)
        poster.to_case_thread(first, key="slash:1", channel=WARD, user="U0CLIN0001")
        fake.wait_for("chat.postMessage", 2)
        child = poster._child
        assert child is not None
        child.process.kill()
        child.process.join(5)

        poster.to_case_thread(second, key="slash:2", channel=WARD, user="U0CLIN0001")
        fake.wait_for("chat.postMessage", 3, timeout=30)
    finally:
        poster.stop()
    assert metrics.value("poster_restarts") == 1
    assert len(roots(fake)) == 1  # the new child found the thread the first one opened


class _ReadBeforeTheOtherClaimed:
    """Services that find no thread for the case until they claim one: the reads another
    process made just before this one claimed the thread."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._claimed = False

    def case_thread(self, code: str) -> CaseThread:
        if not self._claimed:
            return CaseThread(code, None, None)
        return self._services.case_thread(code)

    def claim_case_thread(self, code: str, channel: str, ts: str) -> CaseThread:
        self._claimed = True
        return self._services.claim_case_thread(code, channel, ts)

    def __getattr__(self, name: str) -> object:
        return getattr(self._services, name)


def test_a_thread_root_that_lost_the_claim_to_another_process_is_deleted(
    database: Engine, fake: FakeSlack
) -> None:
    services, code = seeded_services(database, FakeClock())
    settings = settings_for(fake, database.url.render_as_string(hide_password=False))
    first, second = replies(services, code, 2)

    def poster_on(services: Services) -> tuple[Poster, ThreadPoolExecutor]:
        executor = ThreadPoolExecutor(1)
        client = make_web_client(settings)
        return Poster(client=client, services=services, executor=executor, metrics=Metrics()), (
            executor
        )

    winner, winning = poster_on(services)
    winner.to_case_thread(first, key="slash:1", channel=WARD, user="U0CLIN0001")
    winning.shutdown(wait=True)
    loser, losing = poster_on(cast(Services, _ReadBeforeTheOtherClaimed(services)))
    loser.to_case_thread(second, key="slash:2", channel=WARD, user="U0CLIN0001")
    losing.shutdown(wait=True)

    thread = services.case_thread(code)
    root_posts = [c for c in fake.of("chat.postMessage") if "thread_ts" not in c.args]
    assert len(root_posts) == 2  # the loser posted a root before its claim lost
    (deleted,) = fake.of("chat.delete")
    assert deleted.args == {"channel": WARD, "ts": root_posts[1].answer["ts"]}
    assert deleted.args["ts"] != thread.ts
    in_thread = [c for c in fake.of("chat.postMessage") if "thread_ts" in c.args]
    assert [c.args["thread_ts"] for c in in_thread] == [thread.ts, thread.ts]


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX job control")
def test_a_child_that_stops_reading_never_holds_up_a_listener(
    fake: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stopped child's pipe fills; what would not fit is posted from the serving process, at
    once, and what was in the pipe is posted when the child reads again; a replay meanwhile
    posts nothing. Twice within a minute: counted each time, logged once."""
    services, code, poster, metrics = served(fake, tmp_path)
    (reply,) = replies(services, code, 1)
    sends = 250  # a reply is about 2 KB pickled: more than the 1 MiB pipe holds at 250
    try:
        poster.to_case_thread(reply, key="slash:first", channel=WARD, user="U0CLIN0001")
        fake.wait_for("chat.postMessage", 2)  # the thread root and the first reply
        child = poster._child
        assert child is not None
        pid = child.process.pid
        assert pid is not None
        for spell in (1, 2):
            os.kill(pid, signal.SIGSTOP)
            full_before = metrics.value("poster_pipe_full")

            def send_all(spell: int = spell) -> None:
                for n in range(sends):
                    poster.to_case_thread(
                        reply, key=f"slash:{spell}:{n}", channel=WARD, user="U0CLIN0001"
                    )

            try:
                sender = threading.Thread(target=send_all, daemon=True)
                sender.start()
                sender.join(30)
                assert not sender.is_alive(), "a listener waited on a child that does not read"
                posted_here = metrics.value("poster_pipe_full") - full_before
                assert posted_here > 0
                # A replay while this process posts for the child: the child posted the first.
                poster.to_case_thread(reply, key="slash:first", channel=WARD, user="U0CLIN0001")
                assert metrics.value("poster_pipe_full") - full_before == posted_here
                # sent while the child is stopped:
                fake.wait_for("chat.postMessage", 2 + (spell - 1) * sends + posted_here)
            finally:
                os.kill(pid, signal.SIGCONT)
            fake.wait_for("chat.postMessage", 2 + spell * sends, timeout=30)
    finally:
        poster.stop()
    posts = fake.of("chat.postMessage")
    assert len(posts) == 2 + 2 * sends  # each reply once: none lost, none twice, no replay
    assert len(roots(fake)) == 1
    behind = [r for r in caplog.records if "reply poster process is behind" in r.getMessage()]
    assert len(behind) == 1


def test_only_a_database_a_child_can_open_is_posted_from_a_process() -> None:
    def can(url: str) -> bool:
        return can_post_from_a_process(Settings(_env_file=None, database_url=SecretStr(url)))

    assert can("sqlite:///var/toxbot.db")
    assert can("postgresql+psycopg://toxbot@db:5432/toxbot")
    assert not can("sqlite://")
    assert not can("sqlite:///:memory:")


def three_replies_to_post(
    database: Engine, fake: FakeSlack
) -> tuple[Poster, ThreadPoolExecutor, list[Reply]]:
    """A poster on four threads, as serve runs it, and the thread replies of three records of
    one case (39.1, 39.2 and 39.3 °C, in that order)."""
    services, code = seeded_services(database, FakeClock())
    settings = settings_for(fake, database.url.render_as_string(hide_password=False))
    executor = ThreadPoolExecutor(4)
    poster = Poster(
        client=make_web_client(settings), services=services, executor=executor, metrics=Metrics()
    )
    return poster, executor, [reply_of(services, code, f"temp={t} o2=ra ice=10") for t in TEMPS]


def posted_temperatures(fake: FakeSlack) -> list[str]:
    """The temperature of each reply Slack took in a thread, in the order it took them."""
    return [
        next(t for t in TEMPS if f"{t} °C" in str(c.args.get("blocks")))
        for c in fake.of("chat.postMessage")
        if "thread_ts" in c.args and c.answer.get("ok")
    ]


def test_replies_to_one_case_reach_its_thread_in_the_order_they_were_recorded(
    database: Engine, fake: FakeSlack
) -> None:
    """A reply Slack rate-limits (429, retried after 1 s) is not overtaken by the next reply
    to the same case: the thread reads in the order the records were made."""
    poster, executor, (first, second, third) = three_replies_to_post(database, fake)
    poster.to_case_thread(first, key="slash:opens", channel=WARD, user="U0CLIN0001")
    fake.wait_for("chat.postMessage", 2)  # the root, then the first reply in it
    fake.fail("chat.postMessage", RATE_LIMITED, retry_after=1)
    poster.to_case_thread(second, key="slash:limited", channel=WARD, user="U0CLIN0001")
    poster.to_case_thread(third, key="slash:next", channel=WARD, user="U0CLIN0001")
    executor.shutdown(wait=True)

    assert posted_temperatures(fake) == list(TEMPS)


def test_replies_in_one_message_thread_keep_their_order(database: Engine, fake: FakeSlack) -> None:
    """As for a case's thread: a channel message's replies, the first rate-limited, in order."""
    poster, executor, replies_made = three_replies_to_post(database, fake)
    fake.fail("chat.postMessage", RATE_LIMITED, retry_after=1)
    for reply in replies_made:
        poster.in_thread(reply, channel=WARD, thread_ts="1700000000.000001", user="U0CLIN0001")
    executor.shutdown(wait=True)

    assert posted_temperatures(fake) == list(TEMPS)
