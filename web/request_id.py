"""A request id for every HTTP request and WebSocket: in logs, in masked errors, in headers.
RequestIdMiddleware and web.fast_path assign it."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ops.request_id import current

__all__ = ["ASSIGNED", "RequestIdMiddleware", "assign", "current"]

_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ASSIGNED = "inventory.request_id"  # scope key: an id already given by web.fast_path


def assign(scope: Scope) -> str:
    """The caller's X-Request-ID if it is sane, else a fresh one; once per request."""
    assigned: str | None = scope.get(ASSIGNED)
    if assigned is not None:
        return assigned
    text = Headers(scope=scope).get("x-request-id", "")
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
