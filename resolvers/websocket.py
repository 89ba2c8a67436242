"""Strawberry's WebSocket handlers, made to close a socket that sends a malformed message
with 4400 and a reason, instead of failing it with 1011 or ignoring the frame.

Strawberry 0.341 closes a `graphql-transport-ws` socket with 1011 when a message is not an
object or a `subscribe` payload is not one (`payload["query"]` raises TypeError), and the
legacy `graphql-ws` handler silently skips frames that are not JSON. Only the offending
socket is closed; every other socket runs on in its own task.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from resolvers.context import Context

INVALID_MESSAGE = 4400
NOT_JSON = "WebSocket message must be valid JSON"


def _operation_problem(message: dict[str, Any], start: str) -> str | None:
    """The checks both protocols share for the message that starts an operation."""
    if not isinstance(message.get("id"), str):
        return f"{start} message needs a string id"
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return f"{start} payload must be an object"
    if not isinstance(payload.get("query"), str):
        return f"{start} payload needs a string query"
    for key in ("variables", "extensions"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return f"{start} payload {key} must be an object"
    if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
        return f"{start} payload operationName must be a string"
    return None


def transport_ws_problem(message: object) -> str | None:
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "Message must be an object with a string type"
    if message["type"] == "subscribe":
        return _operation_problem(message, "subscribe")
    if message["type"] == "complete" and not isinstance(message.get("id"), str):
        return "complete message needs a string id"
    return None


def legacy_ws_problem(message: object) -> str | None:
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "Message must be an object with a string type"
    if message["type"] == "start":
        return _operation_problem(message, "start")
    if message["type"] == "stop" and not isinstance(message.get("id"), str):
        return "stop message needs a string id"
    return None


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_message(self, message: Message) -> None:
        problem = transport_ws_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        if message["type"] == "connection_init" and message.get("payload", {}) is None:
            message = {"type": "connection_init"}  # the protocol allows `"payload": null`
        await super().handle_message(message)
        if message["type"] == "connection_init":
            # cancelled by Strawberry once init arrived; the done task would stay referenced
            # (with its frame) for the socket's lifetime
            self.connection_init_timeout_task = None


class _StrictJSON(AsyncWebSocketAdapter):
    """The legacy handler asks its adapter to skip frames that are not JSON; this one
    closes the socket on the first such frame instead."""

    def __init__(self, inner: AsyncWebSocketAdapter) -> None:
        super().__init__(inner.view)
        self.inner = inner

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            async for message in self.inner.iter_json():
                yield message
        except NonJsonMessageReceived:
            await self.inner.close(INVALID_MESSAGE, NOT_JSON)

    async def send_json(self, message: Mapping[str, object]) -> None:
        await self.inner.send_json(message)

    async def close(self, code: int, reason: str) -> None:
        await self.inner.close(code, reason)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle(self) -> None:
        self.websocket = _StrictJSON(self.websocket)
        await super().handle()

    async def handle_message(self, message: OperationMessage) -> None:
        problem = legacy_ws_problem(message)
        if problem is not None:
            await self.websocket.close(INVALID_MESSAGE, problem)
            return
        await super().handle_message(message)
