"""uvicorn's sans-I/O WebSocket protocol internals, lightened by web/ws_protocol.py.

Pinned by `uvicorn[standard]>=0.30` (0.54 installed): the protocol's `queue` (receive queue:
put_nowait, get, empty, qsize), `writable` (back-pressure: set, clear, is_set, wait) and the
handshake's `request` and `response`, kept after the handshake though never read again.
Guarded by tests/integration/test_socket_memory.py (and every WebSocket test: the test server
runs with this protocol).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["WebSocketsSansIOProtocol", "forget_request", "forget_response", "replace_queues"]


def replace_queues(protocol: WebSocketsSansIOProtocol, queue: Any, writable: Any) -> None:
    protocol.queue = queue
    protocol.writable = writable


def forget_request(protocol: WebSocketsSansIOProtocol) -> None:
    protocol.request = None  # type: ignore[assignment]  # assigned by uvicorn, never read


def forget_response(protocol: WebSocketsSansIOProtocol) -> None:
    """Drops the handshake response once the connection is accepted (only read until then)."""
    if protocol.handshake_complete and protocol.response is not None:
        protocol.response = None  # type: ignore[assignment]
