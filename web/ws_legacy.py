"""The legacy `graphql-ws` protocol (web/view.py installs it): Strawberry's handler, made to
close a socket that sends a malformed or non-JSON message with 4400 and a reason.

Strawberry 0.341 silently skips frames that are not JSON."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping

from strawberry.http.exceptions import NonJsonMessageReceived
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from compat.strawberry import AsyncWebSocketAdapter, BaseGraphQLWSHandler
from resolvers.context import Context
from web.ws_checks import INVALID_MESSAGE, NOT_JSON, legacy_ws_problem


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
