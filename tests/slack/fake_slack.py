"""A fake Slack Web API on loopback: records every call and answers as Slack does.

Runs a threading HTTP server on ``127.0.0.1`` (a free port); point the bot's ``SLACK_API_URL``
at :attr:`FakeSlack.url`. It answers ``auth.test``, ``chat.postMessage``, ``chat.update``,
``chat.delete``, ``chat.postEphemeral``, ``views.open``, ``views.publish`` and
``conversations.open``; anything else gets ``unknown_method``. Failures are switched on per
method and served in order: a 429 with ``Retry-After``, a 500, or an error code such as
``user_not_found`` (HTTP 200, ``ok: false``), the way Slack reports each.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl

BOT_USER_ID: Final = "UTOXBOT01"
TEAM_ID: Final = "T0TEAM001"
RATE_LIMITED: Final = "ratelimited"
SERVER_ERROR: Final = "server_error"


@dataclass(frozen=True, slots=True)
class Call:
    """One Web API call as received (method, arguments, arrival, token) and what it answered."""

    method: str
    args: dict[str, Any]
    at: float
    token: str | None
    answer: dict[str, Any]


@dataclass
class _Failure:
    kind: str  # RATE_LIMITED, SERVER_ERROR, or a Slack error code
    retry_after: int = 1


@dataclass
class FakeSlack:
    """The fake Web API; use as a context manager or call :meth:`start` and :meth:`close`."""

    calls: list[Call] = field(default_factory=list)
    _failures: dict[str, deque[_Failure]] = field(default_factory=dict)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None
    connections: int = 0  # TCP connections accepted so far
    _open: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The Web API base URL to give the bot (``SLACK_API_URL``)."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: a client may send many calls on one
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake.connections += 1
                    fake._open.append(self.connection)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                method = self.path.rsplit("/", 1)[-1]
                args = _arguments(raw, self.headers.get("Content-Type") or "")
                auth = self.headers.get("Authorization") or ""
                status, headers, body = fake._answer(method, args, auth.removeprefix("Bearer "))
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------
    # Switching failures on, reading what arrived

    def drop_connections(self) -> None:
        """Close every connection from the server's side, as an idle timeout does."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def fail(self, method: str, kind: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``kind``."""
        with self._lock:
            queue = self._failures.setdefault(method, deque())
            queue.extend(_Failure(kind, retry_after) for _ in range(times))

    def of(self, method: str) -> list[Call]:
        """The calls of ``method`` so far, in order."""
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until ``method`` was called ``count`` times; the calls (fails on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len([c for c in self.calls if c.method == method]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(f"{method} x{count} not called within {timeout}s: {seen}")
                self._lock.wait(left)
            return [c for c in self.calls if c.method == method]

    @contextmanager
    def quiet_for(self, seconds: float) -> Iterator[None]:
        """Check no call but ``auth.test`` arrived in the block and ``seconds`` after it."""
        before = len(self.calls)
        yield
        time.sleep(seconds)
        after = [c.method for c in self.calls[before:] if c.method != "auth.test"]
        assert after == [], after

    # ----------------------------------------------------------------------------------------

    def _answer(
        self, method: str, args: dict[str, Any], token: str
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            failures = self._failures.get(method)
            failure = failures.popleft() if failures else None
            ts = f"1700000000.{next(self._ts):06d}"
            status, headers, body = (
                _failed(failure) if failure else (200, {}, _ok(method, args, ts))
            )
            self.calls.append(Call(method, args, time.monotonic(), token or None, body))
            self._lock.notify_all()
        return status, headers, body


def _failed(failure: _Failure) -> tuple[int, dict[str, str], dict[str, Any]]:
    if failure.kind == RATE_LIMITED:
        return 429, {"Retry-After": str(failure.retry_after)}, {"ok": False, "error": RATE_LIMITED}
    if failure.kind == SERVER_ERROR:
        return 500, {}, {"ok": False, "error": "internal_error"}
    return 200, {}, {"ok": False, "error": failure.kind}


def _ok(method: str, args: dict[str, Any], ts: str) -> dict[str, Any]:
    if method == "auth.test":
        return {
            "ok": True,
            "url": "https://toxbot-test.slack.com/",
            "team": "Test",
            "user": "toxbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": "B0TOXBOT1",
        }
    if method == "chat.postMessage":
        return {"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"ts": ts}}
    if method in {"chat.update", "chat.delete"}:
        return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
    if method == "chat.postEphemeral":
        return {"ok": True, "message_ts": ts}
    if method in {"views.open", "views.publish"}:
        return {"ok": True, "view": {"id": f"V{ts.replace('.', '')}", **args.get("view", {})}}
    if method == "conversations.open":
        return {"ok": True, "channel": {"id": "D" + str(args.get("users", "X"))[1:]}}
    return {"ok": False, "error": "unknown_method"}


def _arguments(raw: str, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        loaded: dict[str, Any] = json.loads(raw)
        return loaded
    args: dict[str, Any] = dict(parse_qsl(raw))
    for key in ("blocks", "view"):  # form bodies carry these as JSON strings
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args
