"""uvicorn's protocol internals: the sans-I/O WebSocket protocol web/ws_protocol.py lightens, the
httptools protocol web/http_protocol.py bounds.

Pinned by `uvicorn[standard]>=0.30` (0.54 installed): the protocol's `queue` (receive queue:
put_nowait, get, empty, qsize), `writable` (back-pressure: set, clear, is_set, wait) and the
handshake's `request` and `response`, kept after the handshake though never read again.
Guarded by tests/integration/test_socket_memory.py (and every WebSocket test: the test server
runs with this protocol).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

# HttpToolsProtocol (the class `--http httptools` names): web/http_protocol.py overrides its
# parser callbacks (connection_made, on_message_begin, on_url, on_header, on_headers_complete,
# connection_lost) and uses its `loop` and `transport`; guarded by tests/api/test_slow_clients.py.
__all__ = ["HttpToolsProtocol", "WebSocketsSansIOProtocol", "forget_request", "forget_response",
           "replace_queues"]


def replace_queues(protocol: WebSocketsSansIOProtocol, queue: Any, writable: Any) -> None:
    protocol.queue = queue
    protocol.writable = writable


def forget_request(protocol: WebSocketsSansIOProtocol) -> None:
    protocol.request = None  # type: ignore[assignment]  # assigned by uvicorn, never read


def forget_response(protocol: WebSocketsSansIOProtocol) -> None:
    """Drops the handshake response once the connection is accepted (only read until then)."""
    if protocol.handshake_complete and protocol.response is not None:
        protocol.response = None  # type: ignore[assignment]
