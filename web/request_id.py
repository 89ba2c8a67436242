"""A request id for every HTTP request and WebSocket: in logs, in masked errors, in headers."""

from __future__ import annotations

import contextvars
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ASSIGNED = "inventory.request_id"  # scope key: an id already given by web.fast_path


def assign(scope: Scope) -> str:
    """The caller's X-Request-ID if it is sane, else a fresh one; once per request."""
    assigned: str | None = scope.get(ASSIGNED)
    if assigned is not None:
        return assigned
    given = b""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value
            break
    text = given.decode("latin-1")
    request_id = scope[ASSIGNED] = text if _VALID.fullmatch(text) else uuid.uuid4().hex[:16]
    return request_id


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = assign(scope)
        token = current.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current.reset(token)
