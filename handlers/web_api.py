"""slack_sdk's ``WebClient`` over a kept-alive connection: one TCP (and TLS) setup per thread,
not per call.

The stock client sends every call through ``urllib.request.urlopen``, which opens a new
connection and closes it after the answer: a TCP handshake (and with Slack, a TLS one) on every
thread reply, and the connection setup was most of what a post cost toxbot's process. This
subclass replaces only the transport (``_perform_urllib_http_request_internal``, the one place
the client touches the network) with an ``http.client`` connection kept per thread and per
host. Everything above it stays the client's own: the retry handlers (429 with ``Retry-After``,
5xx, dropped connections), the error parsing, ``SlackResponse``. Behind a proxy it leaves the
transport as it is.

A kept connection the server has since closed fails on reuse before any answer arrives; the call
is then sent once more on a fresh connection (what urllib3's pools do too), so an idle timeout
on Slack's side never reaches the caller as an error.

The client logs to :data:`LOGGER_NAME`, held at INFO whatever the root logger's level. slack_sdk's
DEBUG lines hold every request's and answer's whole body: a thread reply's grades and its
free-text note, which must never reach a log. And slack_sdk decides whether to write them by
comparing its logger's own level with DEBUG: at NOTSET, every logger's default, it formatted
the whole body on every call, even with nothing set to print it.

Example::

    client = KeepAliveWebClient(token="xoxb-...", base_url="https://slack.com/api/")
    client.chat_postMessage(channel="C123", text="...")  # later calls reuse the connection
"""

from __future__ import annotations

import http.client
import io
import logging
import socket
import ssl
import threading
from typing import Any, Final
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.errors import SlackRequestError

LOGGER_NAME: Final = "toxbot.slack.web_api"
LOG_LEVEL: Final = logging.INFO  # never DEBUG: slack_sdk's DEBUG lines carry message bodies

# A kept connection that the server closed while idle fails like this, before any answer.
_STALE: Final = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class KeepAliveWebClient(WebClient):
    """A ``WebClient`` that keeps its HTTP/1.1 connection open between calls (per thread)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("logger", client_logger())
        super().__init__(**kwargs)
        self._kept = threading.local()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.proxy is not None:
            return super()._perform_urllib_http_request_internal(url, req)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SlackRequestError(f"Invalid URL detected: {url}")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(req.header_items())
        for attempt in (1, 2):
            connection, reused = self._connection(parts.scheme, parts.netloc)
            try:
                connection.request(req.get_method(), target, body=req.data, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except _STALE:
                self._drop(parts.scheme, parts.netloc)
                if reused and attempt == 1:
                    continue  # the server had closed it: nothing was answered, send again
                raise
            except BaseException:
                self._drop(parts.scheme, parts.netloc)
                raise
            if response.will_close:
                self._drop(parts.scheme, parts.netloc)
            return _answer(url, response, body)
        raise AssertionError("unreachable")  # pragma: no cover

    def close_connections(self) -> None:
        """Close this thread's kept connections (they reopen on the next call)."""
        for connection in getattr(self._kept, "connections", {}).values():
            connection.close()
        self._kept.connections = {}

    def _connection(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection to ``netloc``, and whether it was used before."""
        connections: dict[tuple[str, str], http.client.HTTPConnection] = (
            getattr(self._kept, "connections", None) or {}
        )
        self._kept.connections = connections
        kept = connections.get((scheme, netloc))
        if kept is not None:
            return kept, True
        connection: http.client.HTTPConnection
        if scheme == "https":
            context = self.ssl or ssl.create_default_context()
            connection = _HTTPSConnection(netloc, timeout=self.timeout, context=context)
        else:
            connection = _HTTPConnection(netloc, timeout=self.timeout)
        connections[(scheme, netloc)] = connection
        return connection, False

    def _drop(self, scheme: str, netloc: str) -> None:
        connection = getattr(self._kept, "connections", {}).pop((scheme, netloc), None)
        if connection is not None:
            connection.close()


def client_logger() -> logging.Logger:
    """The Web API client's logger, at :data:`LOG_LEVEL`: its warnings and errors are logged,
    its DEBUG lines (message bodies) are neither logged nor formatted."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(LOG_LEVEL)
    return logger


class _HTTPConnection(http.client.HTTPConnection):
    """No Nagle delay: ``http.client`` sends the headers and the body in two writes, and on a
    kept connection the second would wait for the server's delayed ACK (40 ms on Linux)."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTPSConnection(http.client.HTTPSConnection):
    """As :class:`_HTTPConnection`, over TLS."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _answer(url: str, response: http.client.HTTPResponse, body: bytes) -> dict[str, Any]:
    """What urllib would give the client: the answer, or ``HTTPError`` outside 2xx (the client's
    retry handlers read the status, the headers and the body from it)."""
    if not 200 <= response.status < 300:
        raise HTTPError(url, response.status, response.reason, response.headers, io.BytesIO(body))
    if response.headers.get_content_type() == "application/gzip":
        return {"status": response.status, "headers": response.headers, "body": body}
    charset = response.headers.get_content_charset() or "utf-8"
    return {"status": response.status, "headers": response.headers, "body": body.decode(charset)}
