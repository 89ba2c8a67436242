"""Counts every HTTP response by status class (inventory_http_responses_total{code}) for the
5xx alert: the outermost layer, around the fast path too (bootstrap/app.py wraps the app)."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from compat.uvicorn import asgi3
from ops.metrics import HTTP_RESPONSES

CLASSES = {digit: HTTP_RESPONSES.labels(f"{digit}xx") for digit in "12345"}


class ResponseCounter:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @asgi3
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """A socket gets the inner app's coroutine: no frame of this layer kept alive for it."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def counted(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                counter = CLASSES.get(str(message["status"])[0])
                if counter is not None:
                    counter.inc()
            await send(message)

        try:
            await self.app(scope, receive, counted)
        except BaseException:
            if not started:  # the server answers 500 for an app that raised before answering
                CLASSES["5"].inc()
            raise
