"""The `graphql-transport-ws` protocol (web/view.py installs it): Strawberry's handler, with
strict message checks and live events relayed without a task per subscription.

A socket that sends a malformed message is closed with 4400 and a reason (Strawberry 0.341
fails it with 1011). Each `subscribe` counts against the caller's rate (web/ws_checks.py).

Relay: a subscription runs through Strawberry as usual (parsing, validation, limits,
permissions, its first results), until its resolver yields a `resolvers.handoff.Handoff`.
Then its task, its generators and their extension hooks end, and the subscription lives on
as a small `web.relayed.Relayed` member of its SKU stream's audience (feed/audience.py): each
event is executed and encoded once per document and variables, and every member sends the
same payload under its own id. An idle product page then costs its socket, not a pipeline.
"""

from __future__ import annotations

from contextlib import aclosing, suppress
from typing import Any, cast

import orjson
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.types.execution import ExecutionResult, PreExecutionError

from compat.strawberry import (
    BaseGraphQLTransportWSHandler,
    Operation,
    OperationStreamClosed,
    StreamResult,
    starlette_socket,
)
from domain.ownership import viewer
from feed.hub import FeedOverflow
from ops.metrics import SUBSCRIPTIONS
from resolvers.context import Context
from resolvers.handoff import Handoff
from resolvers.subscriptions import overflow_error
from web.relayed import Relayed, renderer
from web.ws_checks import NOT_JSON, rate_refusal, transport_ws_problem


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context.handoff = True
        self.relayed: dict[str, Relayed] = {}

    async def handle(self) -> None:
        """Strawberry's read loop, without keeping the last message and its text referenced
        while the socket idles (the subscribe message, for every subscriber)."""
        self.on_request_accepted()
        socket = starlette_socket(self.websocket)
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
        if message["type"] == "subscribe" and self.connection_acknowledged:
            error = await rate_refusal(self.view, self.context,
                                       starlette_socket(self.websocket))
            if error is not None:
                await self.websocket.send_json(
                    {"id": message["id"], "type": "error", "payload": [error]})
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
        except OperationStreamClosed:
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
        # the viewer class too: members of one audience see the same redacted events
        key = (operation.query, operation.operation_name, variables,
               viewer(self.context.principal))
        member = Relayed(self, operation.id, handoff.kind)
        encode = self.view.encode_json
        try:
            member.audience = self.context.feed.relay(
                handoff.follow, key,
                lambda: renderer(executor, handoff.payload, encode), member,
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
        error = overflow_error(FeedOverflow(self.context.feed.queue_size))
        member.end(
            member.prefix + cast(str, self.view.encode_json(
                {"data": None, "errors": [error.formatted]})) + "}",
            cast(str, self.view.encode_json({"id": member.id, "type": "complete"})),
        )

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
