"""uvicorn's protocol internals: the sans-I/O WebSocket protocol web/ws_protocol.py lightens, the
httptools protocol web/http_protocol.py bounds.

Pinned by `uvicorn[standard]>=0.30` (0.54 installed): the protocol's `queue` (receive queue:
put_nowait, get, empty, qsize), `writable` (back-pressure: set, clear, is_set, wait) and the
handshake's `request` and `response`, kept after the handshake though never read again.
Guarded by tests/integration/test_socket_memory.py (and every WebSocket test: the test server
runs with this protocol).
"""

from __future__ import annotations

import asyncio.coroutines
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

# HttpToolsProtocol (the class `--http httptools` names): web/http_protocol.py overrides its
# parser callbacks (connection_made, on_message_begin, on_url, on_header, on_headers_complete,
# connection_lost) and uses its `loop` and `transport`; guarded by tests/api/test_slow_clients.py.
__all__ = ["HttpToolsProtocol", "WebSocketsSansIOProtocol", "asgi3", "forget_request",
           "forget_response", "replace_queues"]
F = TypeVar("F", bound=Callable[..., Any])


def asgi3(call: F) -> F:
    """Marks a plain `__call__` that returns the inner app's awaitable as a coroutine
    function: uvicorn's `interface="auto"` takes an app whose `__call__` is not one for ASGI 2
    (asyncio.iscoroutinefunction before Python 3.14, inspect's after; both read the marker).
    Guarded by every test that serves the app (tests/conftest.py's RunningServer)."""
    if hasattr(inspect, "markcoroutinefunction"):  # Python 3.12+
        call = inspect.markcoroutinefunction(call)
    call._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]
    return call


def replace_queues(protocol: WebSocketsSansIOProtocol, queue: Any, writable: Any) -> None:
    protocol.queue = queue
    protocol.writable = writable


def forget_request(protocol: WebSocketsSansIOProtocol) -> None:
    protocol.request = None  # type: ignore[assignment]  # assigned by uvicorn, never read


def forget_response(protocol: WebSocketsSansIOProtocol) -> None:
    """Drops the handshake response once the connection is accepted (only read until then)."""
    if protocol.handshake_complete and protocol.response is not None:
        protocol.response = None  # type: ignore[assignment]
