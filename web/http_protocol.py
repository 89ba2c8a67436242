"""uvicorn's httptools protocol with a time and a size bound on a request's headers; `serve`
runs it (cli.py), tests/api/test_slow_clients.py checks it.

uvicorn has no header timeout (its keep-alive timer runs only between requests), so a client
that opens a connection and sends its headers byte by byte, or nothing, is cut with 408 after
`header_seconds`; past MAX_HEADER_BYTES it gets 400 (h11_max_incomplete_event_size is h11's).

It overrides the protocol's parser callbacks (uvicorn 0.54, httptools 0.9; the class `--http
httptools` names), as web/ws_protocol.py does for WebSockets."""

from __future__ import annotations

import asyncio

import httptools

from compat.uvicorn import HttpToolsProtocol

TOO_SLOW = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
            b"content-length: 30\r\nconnection: close\r\n\r\nRequest headers came too slow.")


class BoundedHeadersProtocol(HttpToolsProtocol):
    """Headers complete within `header_seconds` of the connection or of the request's first
    byte (None: REQUEST_TIMEOUT_SECONDS, read in the worker; 0: no bound), the URL and headers
    within `header_bytes` (None: MAX_HEADER_BYTES)."""

    header_seconds: float | None = None
    header_bytes: int | None = None
    _header_timer: asyncio.TimerHandle | None = None
    _header_size = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_size = 0
        if self._header_timer is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        if self.header_bytes is None:
            from settings import Settings

            type(self).header_bytes = Settings.from_env().max_header_bytes
        self._header_size += size
        if 0 < (self.header_bytes or 0) < self._header_size:
            # uvicorn answers 400 and closes the connection
            raise httptools.HttpParserCallbackError("request headers too large")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        seconds = self.header_seconds
        if seconds is None:
            from settings import Settings

            seconds = type(self).header_seconds = Settings.from_env().request_timeout_seconds
        if seconds > 0:
            self._header_timer = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(TOO_SLOW)
            self.transport.close()
