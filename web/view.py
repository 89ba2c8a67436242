"""The GraphQL view: HTTP (web/graphql_http.py), both WebSocket protocols, the IDE page, and
the per-request context; bootstrap/app.py routes it, web/fast_path.py calls it."""

from __future__ import annotations

import functools
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Send
from starlette.types import Scope as ASGIScope
from starlette.websockets import WebSocket, WebSocketState
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from domain.access import Scope
from ops.metrics import WEBSOCKETS
from resolvers.context import Context
from schema.errors import with_codes
from service.access import AccessError
from web.graphql_http import GraphQLOverHTTP
from web.state import services
from web.websocket import TransportWSHandler
from web.ws_legacy import LegacyWSHandler

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


@functools.cache
def graphiql_html() -> str:
    # Strawberry's own IDE page, with its CDN assets served from /static/graphiql/.
    return (STATIC_DIR / "graphiql" / "graphiql.html").read_text(encoding="utf-8")


class InventoryGraphQL(GraphQLOverHTTP[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        WEBSOCKETS.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            WEBSOCKETS.dec()

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Every error leaves with a stable `extensions.code`."""
        response = await super().process_result(request, result)  # type: ignore[arg-type]
        with_codes(response.get("errors") or [])  # type: ignore[arg-type]
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql_html())

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        found = services(request)
        context = Context(
            inventory=found.inventory, feed=found.feed, gatekeeper=found.gatekeeper,
            request=request, response=response, cache=isinstance(request, Request),
        )
        if isinstance(request, Request):
            try:
                context.principal = await context.gatekeeper.principal(
                    request.headers.get("authorization")
                )
            except AccessError as error:
                context.auth_error = error
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a socket from its connection_init payload ({"Authorization": ...})
        or its upgrade request, and close it (4403) if its key is revoked later."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("Authorization") or params.get("authorization")
        socket: WebSocket = context.request

        async def close(reason: str) -> None:
            if socket.application_state is WebSocketState.CONNECTED:
                await socket.close(4403, reason)

        try:
            context.principal = await context.gatekeeper.principal(
                header if isinstance(header, str) else socket.headers.get("authorization")
            )
            context.gatekeeper.check(context.principal, Scope.READ)
            context.gatekeeper.watch(
                context.principal, Scope.READ, close,
                alive=lambda: socket.application_state is WebSocketState.CONNECTED,
            )
        except AccessError as error:
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from None
        return await super().on_ws_connect(context)
