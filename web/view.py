"""The GraphQL view: HTTP (web/graphql_http.py), both WebSocket protocols, the IDE page, and
the per-request context; bootstrap/app.py routes it, web/fast_path.py calls it.

Every socket and every multipart or graphql-sse subscription holds a feed slot of its key (or
its address, anonymous) from authentication until it ends, and is ended when its key is
revoked; an unknown token on a socket spends the address's rate budget before its lookup.

Each HTTP request's document goes through web/persisted.py (APQ, registered documents) before
Strawberry parses it, and each answer gets web/read_cache.py's ETag, 304 and Cache-Control."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from cross_web import AsyncHTTPRequestAdapter
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Send
from starlette.types import Scope as ASGIScope
from starlette.websockets import WebSocket, WebSocketState
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.unset import UnsetType

from domain.access import Scope
from ops.metrics import WEBSOCKETS
from resolvers.context import Context
from schema.errors import with_codes
from service.access import AccessError, Feed, Gatekeeper
from web import caller, read_cache
from web.graphql_http import GraphQLOverHTTP
from web.persisted import PersistedQueries
from web.rate_limit import RateLimit
from web.refusals import Refusal
from web.revalidation import NotModified, Revalidation
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
    persisted: PersistedQueries  # bootstrap/app.py's: APQ and registered documents
    revalidation: Revalidation  # bootstrap/app.py's: 304s before execution
    read_cache_max_age = 0  # READ_CACHE_MAX_AGE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.persisted = PersistedQueries()  # per view: an LRU of its own
        self.revalidation = Revalidation()

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            try:
                await super().__call__(scope, receive, send)
            except NotModified as early:  # raised before anything was sent
                headers = {"vary": "Accept, Authorization"}
                headers.update((k.decode(), v.decode()) for k, v in early.caching.headers())
                await Response(status_code=304, headers=headers)(scope, receive, send)
            return
        await self.socket(scope, receive, send)

    async def socket(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        """A WebSocket, as Strawberry's ASGI view runs it but two frames shallower (each
        kept for the socket's lifetime); web/fast_path.py calls it directly."""
        WEBSOCKETS.inc()
        held: list[tuple[Gatekeeper, Feed | None]] = []
        scope[FEEDS] = held
        try:
            await self.run(WebSocket(scope, receive=receive, send=send))
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

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """Not for a persisted query's GET, which has `extensions` and no `query`."""
        return ("extensions" not in request.query_params
                and super().should_render_graphql_ide(request))

    def get_websocket_headers(self, request: WebSocket) -> Mapping[str, str]:
        """Not the socket's cached `headers`, which would keep them after on_ws_connect."""
        return Headers(scope=request.scope)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.request = request  # type: ignore[attr-defined]  # for create_response
        return sub_response

    async def execute_operation(  # noqa: PLR0917
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData], context: Context,
        root_value: None, sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        """A query or mutation (one or a batch) lets its loaders' values go once executed. A
        subscription streamed over HTTP keeps its context for as long as it streams: from its
        first event on, its loaders batch but keep nothing, as a socket's do, or every event
        would carry the levels the first one read."""
        result = await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response)
        if not isinstance(result, ExecutionResult | list):
            context.cache = False
        context.release()
        return result

    async def execute_single(  # noqa: PLR0917
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response, context: Context, root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        async def execute(query: Any) -> ExecutionResult:
            await self.revalidation.before(
                request.scope, context, query, request_data.variables,
                request_data.operation_name, sub_response.media_type or "",
                request.headers.get("if-none-match"), self.read_cache_max_age)
            return await super(InventoryGraphQL, self).execute_single(
                request=request, request_adapter=request_adapter, sub_response=sub_response,
                context=context, root_value=root_value,
                request_data=dataclasses.replace(request_data, query=query),
            )

        return await self.persisted.run(request_data.query, request_data.extensions,
                                        context.principal, sub_response, execute)

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        request: Request | None = getattr(sub_response, "request", None)
        if request is None:
            return response
        caching = read_cache.decide(
            method=request.method, status=response.status_code,
            errors=not isinstance(response_data, dict) or bool(response_data.get("errors")),
            principal=request.scope.get(PRINCIPAL),
            media_type=response.headers.get("content-type", ""),
            body=bytes(response.body), if_none_match=request.headers.get("if-none-match"),
            max_age=self.read_cache_max_age,
        )
        self.revalidation.after(request.scope, caching)
        if caching.not_modified:
            response = Response(status_code=304, headers={"vary": response.headers["vary"]})
        for name, value in caching.headers():
            response.headers[name.decode()] = value.decode()
        if caching.etag is not None:
            response.headers.add_vary_header("Authorization")
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
            # nothing reads the upgrade's headers after this (the address is the scope's
            # client): ~1.3 KB per idle socket otherwise
            socket.scope["headers"].clear()
        except AccessError as error:
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from None
        return await super().on_ws_connect(context)
