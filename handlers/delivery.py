"""Everything toxbot sends to Slack, sent off the hot path by a background executor.

A listener answers in its acknowledgement and hands the rest to :class:`Poster`: the full reply
in the case's thread (creating the thread on the first post), a reply in a message's thread, an
ephemeral note, a form (``views.open``), the App Home (``views.publish``). The acknowledgement
never waits for a Web API round trip (design §2, §10).

Order: replies to one case reach its thread in the order they were given, and replies in one
message thread likewise (:mod:`handlers.in_order`); other posts run side by side.

Failures: the ``WebClient`` already retries rate limits (honouring ``Retry-After``), server
errors and dropped connections (``bot.app.make_web_client``). What still fails is permanent
(``channel_not_found``, ``user_not_found``...): it is logged by method and error code only (never
the payload: it carries clinical text) and counted, and the person who asked is told when there
is a way to reach them.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Final

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.metrics import Metrics
from bot.replies import FormKind, FormRequest, Reply, Tone, Visibility
from bot.services.api import Actor, Services
from bot.services.threads import CaseThread
from handlers.blocks import render_message
from handlers.forms import assessment_form, dose_form
from handlers.in_order import InOrder

log = logging.getLogger("toxbot.slack")

MODAL_TITLE: Final = "toxbot"
FORMS_REMEMBERED: Final = 1000  # open forms (and case threads) remembered in memory
POSTS_REMEMBERED: Final = 20_000  # request keys whose reply was posted (replays post nothing)


def message_view(reply: Reply) -> dict[str, Any]:
    """A modal that shows ``reply`` (used to answer a form submission that recorded nothing)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": MODAL_TITLE},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": render_message(reply)["blocks"],
    }


def notice(text: str) -> Reply:
    """A one-line ephemeral warning from the Slack face itself (not from a use case)."""
    return Reply(summary=text, visibility=Visibility.EPHEMERAL, tone=Tone.WARNING)


class Poster:
    """Sends replies, forms and the home tab on ``executor``; one instance per app."""

    def __init__(
        self, *, client: WebClient, services: Services, executor: Executor, metrics: Metrics
    ) -> None:
        self._client = client
        self._services = services
        self._executor = executor
        # A case's thread replies (and a message thread's) are posted one at a time, in order.
        self._in_order = InOrder(executor)
        self._metrics = metrics
        # view id -> the channel its form was opened from: where a case with no thread yet gets
        # one. In memory: after a restart such a post falls back to a direct message.
        self._form_channels: OrderedDict[str, str] = OrderedDict()
        # case code -> its thread, once it has one: a thread never moves, so no need to ask the
        # database again before every post.
        self._threads: OrderedDict[str, CaseThread] = OrderedDict()
        self._posted: OrderedDict[str, None] = OrderedDict()  # request keys already posted
        self._lock = threading.Lock()
        self._opening = threading.Lock()  # held while a case's thread root is posted

    # ----------------------------------------------------------------------------------------
    # What listeners call: each returns at once; the work runs on the executor.

    def to_case_thread(self, reply: Reply, *, key: str, channel: str | None, user: str) -> None:
        """Post ``reply`` in its case's thread, once per ``key`` (a repeat posts nothing).

        ``channel`` is where the request came from: the case's thread is opened there when the
        case has neither a channel nor a thread yet; with no channel either, the user gets a DM.
        The key is remembered now, not when the post runs: a replay arriving while the first
        reply still waits to be sent posts nothing either.
        """
        if self._first_post(key):
            self._post_later(reply, channel=channel, user=user)

    def in_thread(self, reply: Reply, *, channel: str, thread_ts: str, user: str) -> None:
        """Post ``reply`` in a message's thread, or ephemerally there if it is only for ``user``."""
        if reply.visibility is Visibility.EPHEMERAL:
            self.ephemeral(reply, channel=channel, user=user, thread_ts=thread_ts)
            return
        self._in_order.submit(
            ("thread", channel, thread_ts),
            self._guarded(lambda: self._post(reply, channel, thread_ts, user)),
        )

    def ephemeral(
        self, reply: Reply, *, channel: str | None, user: str, thread_ts: str | None = None
    ) -> None:
        """Show ``reply`` to ``user`` alone: ephemerally in ``channel``, else by direct message."""
        self._submit(lambda: self._tell(reply, channel=channel, user=user, thread_ts=thread_ts))

    def open_form(
        self, actor: Actor, form: FormRequest, *, trigger_id: str, channel: str | None
    ) -> None:
        """Open the form for ``form`` once the actor's role allows what it records and its
        case is there and active.

        Both are checked now (:meth:`~bot.services.api.Services.check_allowed` raises
        ``Denied``, audited, ``CaseNotFound`` or ``CaseClosed``, for the error handler to
        explain; a forwarded button is checked for whoever pressed it); ``views.open`` runs on
        the executor within the trigger's three seconds. ``channel`` (where the form was asked
        for) is remembered for the view.
        """
        self._services.check_allowed(actor, form.kind.records, form.case_code)
        build = assessment_form if form.kind is FormKind.ASSESSMENT else dose_form
        view = build(form.case_code)

        def open_view() -> None:
            opened, error = self._call("views.open", trigger_id=trigger_id, view=view)
            if opened is None:
                self._tell(
                    notice(f"The form could not open (Slack said {error})."),
                    channel=channel,
                    user=actor.user,
                )
                return
            view_id = opened.get("view", {}).get("id")
            if channel and isinstance(view_id, str):
                with self._lock:
                    self._form_channels[view_id] = channel
                    while len(self._form_channels) > FORMS_REMEMBERED:
                        self._form_channels.popitem(last=False)

        self._submit(open_view)

    def form_channel(self, view_id: str) -> str | None:
        """The channel the form ``view_id`` was opened from, if this process opened it."""
        with self._lock:
            return self._form_channels.get(view_id)

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        """Publish the App Home ``view`` for ``user``."""
        self._submit(lambda: self._call("views.publish", user_id=user, view=view))

    def submit(self, job: Callable[[], object]) -> Future[None]:
        """Run ``job`` on the executor, logging (never raising) what it fails with."""
        return self._submit(job)

    def stop(self) -> None:
        """Stop posting (in the process: nothing to stop; the executor belongs to its maker)."""

    # ----------------------------------------------------------------------------------------
    # What runs on the executor.

    def _submit(self, job: Callable[[], object]) -> Future[None]:
        return self._executor.submit(self._guarded(job))

    def _guarded(self, job: Callable[[], object]) -> Callable[[], None]:
        """``job``, counting and logging (by type only) what it fails with, never raising:
        the executor would swallow it silently otherwise."""

        def run() -> None:
            try:
                job()
            except Exception as exc:
                self._metrics.count("background_errors", error=type(exc).__name__)
                log.error("background Slack job failed: %s", type(exc).__name__)

        return run

    def _post_later(self, reply: Reply, *, channel: str | None, user: str) -> None:
        """Post ``reply`` in its case's thread on the executor (its key already remembered),
        after the replies to the same case given before it (:class:`~handlers.in_order.InOrder`:
        a post Slack rate-limits is never overtaken by the next one)."""
        self._in_order.submit(
            ("case", reply.case_code or user),
            self._guarded(lambda: self._post_case_thread(reply, channel, user)),
        )

    def _post_case_thread(self, reply: Reply, channel: str | None, user: str) -> None:
        code = reply.case_code
        if code is None:
            self._tell(reply, channel=channel, user=user)
            return
        thread = self._thread(code)
        target = thread.channel or channel
        error = None
        if thread.ts is None and target is not None:
            thread, error = self._opened_thread(code, target)
        if thread.channel is None or thread.ts is None:
            if target is None:  # no channel known at all: the reply goes to the user directly
                self._direct(reply, user)
                return
        else:
            _, error = self._call(
                "chat.postMessage",
                channel=thread.channel,
                thread_ts=thread.ts,
                **render_message(reply),
            )
        if error is not None:
            self._tell(
                notice(
                    f"Recorded, but the reply could not be posted in the thread of {code} "
                    f"(Slack said {error}). /tox summary {code} shows it."
                ),
                channel=channel,
                user=user,
            )

    def _opened_thread(self, code: str, target: str) -> tuple[CaseThread, str | None]:
        """The case's thread, opened in ``target`` unless a post opened it meanwhile, and the
        error code if opening it failed.

        One opening at a time: replies for a new case sent in quick succession would otherwise
        each post a thread root before the first was claimed. Across processes, the database
        claim picks one root and a root that lost is deleted again.
        """
        with self._opening:
            thread = self._thread(code)
            if thread.ts is not None:
                return thread, None
            root = Reply(
                summary=f"{code}: toxbot case thread (decision support; the treating team decides)",
                visibility=Visibility.THREAD,
                case_code=code,
            )
            posted, error = self._call("chat.postMessage", channel=target, **render_message(root))
            if posted is None:
                return thread, error
            thread = self._services.claim_case_thread(code, target, str(posted["ts"]))
            if thread.ts != posted["ts"]:
                # Another process (a replica, or the reply poster's child) claimed the thread
                # first: this root would stay in the channel as an empty second thread.
                self._call("chat.delete", channel=target, ts=str(posted["ts"]))
            self._remember(thread)
            return thread, None

    def _first_post(self, key: str) -> bool:
        """True the first time this process posts the reply of request ``key``.

        In memory, not in ``processed_event``: the record itself is idempotent in the database,
        and Slack retries neither commands nor form submissions (events are deduplicated before
        any listener runs), so what this guards against is a replayed request, which lands on
        the same process unless replicas sit behind a load balancer, where a replay could at
        worst post a second copy of a reply. A database write per post would cost every
        request's throughput for that.
        """
        with self._lock:
            if key in self._posted:
                return False
            self._posted[key] = None
            while len(self._posted) > POSTS_REMEMBERED:
                self._posted.popitem(last=False)
        return True

    def _thread(self, code: str) -> CaseThread:
        with self._lock:
            known = self._threads.get(code)
        if known is not None:
            return known
        thread = self._services.case_thread(code)
        self._remember(thread)
        return thread

    def _remember(self, thread: CaseThread) -> None:
        if thread.channel is None or thread.ts is None:
            return
        with self._lock:
            self._threads[thread.code] = thread
            while len(self._threads) > FORMS_REMEMBERED:
                self._threads.popitem(last=False)

    def _post(self, reply: Reply, channel: str, thread_ts: str, user: str) -> None:
        _, error = self._call(
            "chat.postMessage", channel=channel, thread_ts=thread_ts, **render_message(reply)
        )
        if error is not None:
            self._tell(
                notice(f"toxbot could not post its reply here (Slack said {error})."),
                channel=channel,
                user=user,
                thread_ts=thread_ts,
            )

    def _tell(
        self, reply: Reply, *, channel: str | None, user: str, thread_ts: str | None = None
    ) -> None:
        """Ephemerally in ``channel`` (in ``thread_ts``), else by direct message."""
        if channel is not None:
            extra = {"thread_ts": thread_ts} if thread_ts else {}
            sent, _ = self._call(
                "chat.postEphemeral", channel=channel, user=user, **extra, **render_message(reply)
            )
            if sent is not None:
                return
        self._direct(reply, user)

    def _direct(self, reply: Reply, user: str) -> None:
        opened, _ = self._call("conversations.open", users=user)
        if opened is not None:
            channel = str(opened["channel"]["id"])
            self._call("chat.postMessage", channel=channel, **render_message(reply))

    def _call(self, method: str, **arguments: Any) -> tuple[Any | None, str | None]:
        """Call the Web API: ``(response, None)``, or ``(None, error code)`` when it failed.

        Retries already happened in the client; a failure left is permanent. It is logged and
        counted by method and error code, never with the payload (it carries clinical text).
        """
        try:
            response = self._client.api_call(method, json=arguments)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown")) if exc.response else "unknown"
        except (SlackClientError, OSError) as exc:  # connection refused after the retries
            error = type(exc).__name__
        else:
            self._metrics.count("webapi_calls", method=method)
            return response, None
        self._metrics.count("webapi_errors", method=method, error=error)
        log.warning("Slack Web API %s failed: %s", method, error)
        return None, error
