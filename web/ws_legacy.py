"""The legacy `graphql-ws` protocol (web/view.py installs it): Strawberry's handler, made
stricter.

It closes a socket that sends a malformed or non-JSON message with 4400 and a reason, and a
second `connection_init` with 4429 (as graphql-transport-ws does); each `start` counts
against the caller's rate (web/ws_checks.py).

Strawberry 0.341 silently skips frames that are not JSON, and takes every `connection_init`
(a feed slot and a keep-alive task each)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping

from strawberry.http.exceptions import NonJsonMessageReceived
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from compat.strawberry import AsyncWebSocketAdapter, BaseGraphQLWSHandler, starlette_socket
from resolvers.context import Context
from web.ws_checks import (
    INVALID_MESSAGE,
    NOT_JSON,
    TOO_MANY_INITIALISATION_REQUESTS,
    legacy_ws_problem,
    rate_refusal,
)


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
    initialised = False

    async def handle(self) -> None:
        self.socket = starlette_socket(self.websocket)
        self.websocket = _StrictJSON(self.websocket)
        await super().handle()

    async def handle_message(self, message: OperationMessage) -> None:
        problem = legacy_ws_problem(message)
        if problem is not None:
            await self.websocket.close(INVALID_MESSAGE, problem)
            return
        if message["type"] == "connection_init":
            if self.initialised:
                await self.websocket.close(TOO_MANY_INITIALISATION_REQUESTS,
                                           "Too many initialisation requests")
                return
            self.initialised = True
        if message["type"] == "start" and self.connection_acknowledged:
            error = await rate_refusal(self.view, self.context, self.socket)
            if error is not None:
                await self.websocket.send_json(
                    {"type": "error", "id": message["id"], "payload": error})
                return
        await super().handle_message(message)
