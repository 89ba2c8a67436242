"""Strawberry's WebSocket handlers, made to close a socket that sends a malformed message
with 4400 and a reason, instead of failing it with 1011 or ignoring the frame, and (for
`graphql-transport-ws`) to relay live subscription events without a task per subscription.

Strawberry 0.341 closes a `graphql-transport-ws` socket with 1011 when a message is not an
object or a `subscribe` payload is not one (`payload["query"]` raises TypeError), and the
legacy `graphql-ws` handler silently skips frames that are not JSON. Only the offending
socket is closed; every other socket runs on in its own task.

Relay: a subscription runs through Strawberry as usual (parsing, validation, limits,
permissions, its first results), until its resolver yields a `schema.execution.Handoff`.
Then its task, its generators and their extension hooks end, and the subscription lives on
as a small `Relayed` member of its SKU channel's audience (feed/audience.py): each event is
executed and encoded once per document and variables, and every member sends the same
payload under its own id. An idle product page then costs its socket, not a pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import suppress
from typing import Any, cast

import orjson
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, WebSocketDisconnected
from strawberry.schema.schema import StreamResult
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from domain.model import StockEvent
from feed.audience import Audience, Render
from feed.hub import FeedOverflow
from ops.metrics import SUBSCRIPTIONS
from resolvers.context import Context
from resolvers.subscriptions import overflow_error
from schema.execution import Handoff, PerEventMemoExecutionContext
from web.errors import MaskUnexpectedErrors

log = logging.getLogger(__name__)

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


class Relayed:
    """One relayed subscription (a feed.audience.Member): its id's message prefix, the last
    sequence it was given, and a backlog only while its socket cannot take more."""

    __slots__ = ("handler", "id", "prefix", "last", "kind", "audience", "outbox", "flush")

    def __init__(self, handler: TransportWSHandler, id: str, kind: str) -> None:
        self.handler = handler
        self.id = id
        self.prefix = f'{{"id":{orjson.dumps(id).decode()},"type":"next","payload":'
        self.last = 0
        self.kind = kind
        self.audience: Audience | None = None
        self.outbox: list[str] | None = None
        self.flush: asyncio.Task[None] | None = None

    def deliver(self, payload: str) -> None:
        self.send(self.prefix + payload + "}")

    def send(self, text: str) -> None:
        if self.outbox is None:
            self.outbox = []
        self.outbox.append(text)
        if len(self.outbox) > self.handler.context.feed.queue_size:
            self.handler.overflowed(self)  # the backlog becomes the error and `complete`
        if self.flush is None:
            self.flush = asyncio.create_task(self._flush(), name="ws-relay")

    async def _flush(self) -> None:
        socket = cast(ASGIWebSocketAdapter, self.handler.websocket).ws
        try:
            while self.outbox:
                await socket.send_text(self.outbox.pop(0))
        except Exception as exc:  # gone: the handler's read loop ends and cleans up
            log.debug("relay to a closed socket dropped (%r)", exc)
        finally:
            self.outbox = None
            self.flush = None


def _renderer(executor: PerEventMemoExecutionContext, payload_of: Callable[[Any], Any],
              encode: Callable[[object], str | bytes]) -> Render:
    """Executes an event for an audience as Strawberry would for one subscriber, errors
    masked as MaskUnexpectedErrors does, and encodes the `next` payload."""
    mask = MaskUnexpectedErrors()

    async def render(event: StockEvent) -> str:
        result = executor.build_per_event_executor(payload_of(event)).execute_operation(False)
        if executor.is_awaitable(result):
            result = await result
        payload: dict[str, object] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in mask._process_errors(result.errors)]
        encoded = encode(payload)
        return encoded.decode() if isinstance(encoded, bytes) else encoded

    return render


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context.handoff = True
        self.relayed: dict[str, Relayed] = {}

    async def handle(self) -> None:
        """Strawberry's read loop, without keeping the last message and its text referenced
        while the socket idles (~1 KB per subscriber: the subscribe message)."""
        self.on_request_accepted()
        socket = cast(ASGIWebSocketAdapter, self.websocket).ws
        try:
            while socket.application_state != WebSocketState.DISCONNECTED:
                try:
                    message = self.view.decode_json(await socket.receive_text())
                except KeyError:
                    await self.handle_invalid_message("WebSocket message type must be text")
                    return
                except ValueError:
                    await self.handle_invalid_message(NOT_JSON)
                    return
                await self.handle_message(cast(Message, message))
                del message
        except (WebSocketDisconnect, WebSocketDisconnected):
            pass
        finally:
            await self.shutdown()

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

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Strawberry's, except that a stream handed over (`_relay`) ends without `complete`."""
        try:
            source = await self.schema.stream(
                operation.query, variable_values=operation.variables,
                context_value=self.context, root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(source):
                relayed = await self._send_until_handoff(operation, source)
            if not relayed:
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise

    async def _send_until_handoff(
        self, operation: Operation[Context, None], source: StreamResult
    ) -> bool:
        first = True
        async for result in source:
            if first and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                return False
            if not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                return False
            if isinstance(result.data, Handoff):
                return await self._relay(operation, result.data)
            await operation.send_next(result)
            first = False
        return False

    async def _relay(self, operation: Operation[Context, None], handoff: Handoff) -> bool:
        if operation.completed or self.operations.get(operation.id) is not operation:
            return True  # completed by the client meanwhile: the stream just closes
        executor = handoff.executor
        assert executor is not None
        variables = orjson.dumps(operation.variables, option=orjson.OPT_SORT_KEYS).decode()
        key = (operation.query, operation.operation_name, variables)
        member = Relayed(self, operation.id, handoff.kind)
        encode = self.view.encode_json
        try:
            member.audience = self.context.feed.relay(
                handoff.follow, key,
                lambda: _renderer(executor, handoff.payload, encode), member,
            )
        except FeedOverflow as error:
            await operation.send_next(ExecutionResult(data=None, errors=[overflow_error(error)]))
            return False
        self.relayed[operation.id] = member
        SUBSCRIPTIONS.labels(member.kind).inc()
        operation.task = None  # done once this returns; nothing left to cancel
        operation.query, operation.variables = "", None
        return True

    def overflowed(self, member: Relayed) -> None:
        """As the resolver would have: an error naming the cause, then `complete`."""
        self._forget(member)
        self.operations.pop(member.id, None)
        error = overflow_error(FeedOverflow.behind(self.context.feed.queue_size))
        member.outbox = [
            member.prefix + cast(str, self.view.encode_json(
                {"data": None, "errors": [error.formatted]})) + "}",
            cast(str, self.view.encode_json({"id": member.id, "type": "complete"})),
        ]

    def _forget(self, member: Relayed) -> None:
        if self.relayed.pop(member.id, None) is member and member.audience is not None:
            self.context.feed.unrelay(member.audience, member)
            SUBSCRIPTIONS.labels(member.kind).dec()

    async def cleanup_operation(self, operation_id: str) -> None:
        member = self.relayed.get(operation_id)
        if member is None:
            await super().cleanup_operation(operation_id)
            return
        self._forget(member)
        self.operations.pop(operation_id, None)


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
