"""The bench's stand-in for Slack's Web API: answers each call at the least CPU it can.

Slack's servers do their work on their own machines; on the one being measured, whatever the
stand-in spends is taken from the bot (the floor makes no Web API calls). The tests' fake
(``tests.slack.fake_slack``) is built to be read, not to be cheap: a thread per connection and
the standard library's HTTP parsing cost about 0.17 ms of CPU for each thread reply, a tenth of
what the bot's own serving process spends on the request. This one is a single asyncio
protocol that reads the request line and the length, skips the body, and answers from bytes
made in advance: ``auth.test`` with the bot's identity, any other method ``ok`` with a new
``ts`` (the thread root's is what the bot keeps). Keep-alive HTTP/1.1, as the bot's client
speaks it; it parses nothing else and checks nothing, so it measures, never tests.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
from typing import Final

_HEADER_END: Final = b"\r\n\r\n"
_LENGTH: Final = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_AUTH_TEST: Final = (
    b'{"ok": true, "url": "https://bench.slack.com/", "team": "bench", "user": "toxbot", '
    b'"team_id": "T0TEAM001", "user_id": "UTOXBOT01", "bot_id": "B0TOXBOT1"}'
)


def _response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + _HEADER_END
        + body
    )


class _Answers(asyncio.Protocol):
    """One connection: each complete request in the buffer is answered in turn."""

    def __init__(self, stamps: itertools.count[int]) -> None:
        self._stamps = stamps
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(_HEADER_END)) >= 0:
            head = self._buffer[:end]
            length = _LENGTH.search(head)
            total = end + len(_HEADER_END) + (int(length[1]) if length else 0)
            if len(self._buffer) < total:
                return  # the rest of the body is still on its way
            self._buffer = self._buffer[total:]
            assert self._transport is not None
            self._transport.write(self._answer(head.split(b" ", 2)[1]))

    def _answer(self, path: bytes) -> bytes:
        if path.endswith(b"/auth.test"):
            return _response(_AUTH_TEST)
        ts = f"1700000000.{next(self._stamps):06d}".encode()
        return _response(b'{"ok": true, "ts": "' + ts + b'", "message": {"ts": "' + ts + b'"}}')


def serve_forever(ready: object) -> None:
    """Serve on a free loopback port; put the API's base URL on the ``ready`` queue first."""

    async def main() -> None:
        stamps = itertools.count(1)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Answers(stamps), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        ready.put(f"http://127.0.0.1:{port}/api/")  # type: ignore[attr-defined]
        await server.serve_forever()

    asyncio.run(main())
