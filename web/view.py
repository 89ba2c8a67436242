"""The GraphQL view: HTTP (web/graphql_http.py), both WebSocket protocols, the IDE page, and
the per-request context; bootstrap/app.py routes it, web/fast_path.py calls it.

Every socket and every multipart or graphql-sse subscription holds a feed slot of its key (or
its address, anonymous) from authentication until it ends, and is ended when its key is
revoked; an unknown token on a socket spends the address's rate budget before its lookup."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable, Mapping
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
from service.access import AccessError, Feed, Gatekeeper
from web import caller
from web.graphql_http import GraphQLOverHTTP
from web.rate_limit import RateLimit
from web.refusals import Refusal
from web.state import services
from web.watched import WatchedStream, until
from web.websocket import TransportWSHandler
from web.ws_legacy import LegacyWSHandler

FEEDS = "inventory.feeds"  # scope key: the slots a socket holds, given back when it ends
PRINCIPAL = "inventory.principal"  # scope key: who get_context authenticated
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


@functools.cache
def graphiql_html() -> str:
    """Strawberry's own IDE page, with its CDN assets served from /static/graphiql/ and this
    API's example document and variables in place of GraphiQL's welcome text."""
    folder = STATIC_DIR / "graphiql"
    page = (folder / "graphiql.html").read_text(encoding="utf-8")
    for name, file in (("__EXAMPLE_QUERY__", "example.graphql"),
                       ("__EXAMPLE_VARIABLES__", "example.json")):
        text = (folder / file).read_text(encoding="utf-8")
        page = page.replace(name, json.dumps(text).replace("</", "<\\/"))
    return page


class InventoryGraphQL(GraphQLOverHTTP[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    rate_limit: RateLimit | None = None  # bootstrap/app.py's: counts each WebSocket operation

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        WEBSOCKETS.inc()
        held: list[tuple[Gatekeeper, Feed | None]] = []
        scope[FEEDS] = held
        try:
            await super().__call__(scope, receive, send)
        finally:
            WEBSOCKETS.dec()
            for gatekeeper, feed in held:
                gatekeeper.unwatch(feed)

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
            partners=found.partners, max_follows=self.max_subscriptions_per_connection or 100,
            stale_reads=found.reads if isinstance(request, Request) else None,
        )
        if isinstance(request, Request):
            try:
                context.principal = await context.gatekeeper.principal(
                    caller.authorization(request.scope)
                )
            except AccessError as error:
                context.auth_error = error
            request.scope[PRINCIPAL] = context.principal
            if self.rate_limit is not None:
                context.charge = functools.partial(
                    self.rate_limit.spend, context.principal, caller.address(request.scope))
        return context

    async def create_streaming_response(
        self, request: Request | WebSocket, stream: Callable[[], AsyncIterator[str]],
        sub_response: Response, headers: Mapping[str, str],
    ) -> Response:
        """A multipart or graphql-sse subscription: counted in its caller's feed cap (429
        TOO_MANY_CONNECTIONS past it) and ended when its key is revoked."""
        gatekeeper = services(request).gatekeeper
        revoked = asyncio.Event()

        async def close(reason: str) -> None:
            revoked.set()

        try:
            feed = gatekeeper.watch(request.scope.get(PRINCIPAL), Scope.READ, close,
                                    address=caller.address(request.scope))
        except AccessError as error:
            refusal = Refusal(429, error.code, error.message)
            return Response(refusal.body(), 429, media_type="application/json")

        async def release() -> None:
            gatekeeper.unwatch(feed)

        return WatchedStream(
            until(stream(), revoked), release=release,
            status_code=sub_response.status_code or 200,
            headers={**sub_response.headers, **headers},
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a socket from its connection_init payload ({"Authorization": ...})
        or its upgrade request, and close it (4403) if its key is revoked later."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("Authorization") or params.get("authorization")
        socket: WebSocket = context.request
        gatekeeper = context.gatekeeper

        async def close(reason: str) -> None:
            if socket.application_state is WebSocketState.CONNECTED:
                await socket.close(4403, reason)

        def alive() -> bool:
            return (socket.application_state is WebSocketState.CONNECTED
                    and socket.client_state is WebSocketState.CONNECTED)

        try:
            credential = header if isinstance(header, str) else caller.authorization(socket.scope)
            address = caller.address(socket.scope)
            if credential and gatekeeper.known(credential) is None and self.rate_limit:
                admitted, limit = await self.rate_limit.allow(None, address)
                if not admitted:
                    raise AccessError("RATE_LIMITED", f"rate limit of {limit} requests per "
                                      "second exceeded; retry shortly")
            context.principal = await gatekeeper.principal(credential)
            gatekeeper.check(context.principal, Scope.READ)
            feed = gatekeeper.watch(context.principal, Scope.READ, close, alive,
                                    address=address)
            socket.scope.setdefault(FEEDS, []).append((gatekeeper, feed))
        except AccessError as error:
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from None
        return await super().on_ws_connect(context)
