"""The HTTP server span of every request and WebSocket (OpenTelemetry's ASGI middleware);
bootstrap/app.py wraps the whole app in it, fast path included, only when tracing is on.

The middleware continues an incoming W3C `traceparent`/`tracestate`.

The middleware records the URL with its query string, and a GET /graphql carries the document
and its variables there: it is shown a copy of the request without the query string, and with
the SKU of an SSE path replaced by `{code}`, while the app gets the request as it came."""

from __future__ import annotations

import re

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

ORIGINAL = "inventory.untraced_scope"
_SKU_PATH = re.compile(r"^/skus/[^/]+/events$")


def _shown(path: str) -> str:
    return "/skus/{code}/events" if _SKU_PATH.match(path) else path


class _Original:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope.get(ORIGINAL, scope), receive, send)


class TracedApp:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.traced = OpenTelemetryMiddleware(_Original(app), exclude_spans=["receive", "send"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = _shown(scope["path"])
        shown = {**scope, "query_string": b"", "path": path, "raw_path": path.encode(),
                 ORIGINAL: scope}
        await self.traced(shown, receive, send)
