"""POST /graphql with a JSON body answered beside Starlette's stack and Strawberry's HTTP view
(whose cost BENCHMARKS.md gives); bootstrap/app.py wraps the app in it.

That is what partner clients, checkouts and storefront backends send all day.

The guards are the same objects the full path uses (request id, rate limit, body cap, deadline),
the operation runs through the same `schema.execute` with the same context, and the response is
built by the view's own `process_result` and GraphQL-over-HTTP rules, so a client cannot tell
the two paths apart (tests/api/test_fast_path.py compares them byte for byte).

GET queries too (`query`, `variables`, `operationName`, `extensions` as URL parameters), and
`extensions.persistedQuery` (web/persisted.py) on either method; ETag, 304 and Cache-Control
as web/read_cache.py decides, like the full path.

WebSockets on the same path go straight to the view (see `_socket`). Anything else goes to
the full app unchanged: another method or path, a request with an Origin header (CORS), a
streaming, multipart or HTML Accept, a body or query string that is not one JSON object
with a string `query` (or a persisted query's hash), a batch, a repeated URL parameter, or
an operation that is not a query or a mutation (a mutation over GET). A body already read is
replayed to it, and the request is not counted twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from web import read_cache, request_id
from web.graphql_http import (
    CONTENT_TYPES,
    GRAPHQL_RESPONSE_JSON,
    JSON,
    encode,
    negotiate,
    request_error_status,
)
from web.http_limits import BODY_READ, read_body, replaying
from web.rate_limit import RateLimit
from web.refusals import internal_error, too_late
from web.revalidation import NotModified
from web.view import PRINCIPAL, InventoryGraphQL

log = logging.getLogger(__name__)

ALLOWED = frozenset({OperationType.QUERY, OperationType.MUTATION})
ALLOWED_GET = frozenset({OperationType.QUERY})
FIELDS = frozenset({"query", "variables", "operationName", "extensions"})
_JSON_TYPES = ("application/json", "application/json; charset=utf-8",
               "application/json;charset=utf-8")
_STREAMING = ("text/event-stream", "multipart/")


class _FullPath(Exception):
    """Raised before anything ran: the request needs the full app."""


def _eligible(scope: Scope, path: str) -> Headers | None:
    """The request's headers if only its body can still send it down the full path."""
    if scope["type"] != "http" or scope["method"] not in ("GET", "POST") or scope["path"] != path:
        return None
    headers = Headers(scope=scope)
    content_type = headers.get("content-type", "").lower()
    accept = headers.get("accept", "").lower()
    if (
        (scope["method"] == "POST" and content_type not in _JSON_TYPES)
        or (scope["method"] == "GET" and "text/html" in accept)  # the IDE page
        or "origin" in headers
        or any(kind in accept for kind in _STREAMING)
    ):
        return None
    return headers


Operation = tuple[str | None, dict[str, Any] | None, str | None, dict[str, Any] | None]


def _checked(data: dict[str, Any]) -> Operation:
    query, variables = data.get("query"), data.get("variables")
    name, extensions = data.get("operationName"), data.get("extensions")
    if (
        not data.keys() <= FIELDS
        or not (isinstance(query, str) and query or query is None and extensions is not None)
        or not (variables is None or isinstance(variables, dict))
        or not (name is None or isinstance(name, str))
        or not (extensions is None or isinstance(extensions, dict))
    ):
        raise _FullPath
    return query, variables, name, extensions


def _operation(body: bytes) -> Operation:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _FullPath from None
    if not isinstance(data, dict):
        raise _FullPath
    return _checked(data)


def _url_operation(scope: Scope) -> Operation:
    """A GET's parameters as Strawberry reads them: `variables` and `extensions` as JSON."""
    params = QueryParams(scope["query_string"])
    if len(params.multi_items()) != len(params):
        raise _FullPath
    data: dict[str, Any] = dict(params)
    for name in ("variables", "extensions"):
        if name in data:
            try:
                data[name] = orjson.loads(data[name])
            except orjson.JSONDecodeError:
                raise _FullPath from None
            if not isinstance(data[name], dict):  # the full path answers 400
                raise _FullPath
    return _checked(data)


class GraphQLFastPath:
    def __init__(self, app: ASGIApp, view: InventoryGraphQL, *, limit: RateLimit,
                 max_body_bytes: int, timeout_seconds: float, path: str = "/graphql",
                 max_bulk_body_bytes: int = 0) -> None:
        self.app = app
        self.view = view
        self.limit = limit
        self.max_body_bytes = max_body_bytes
        self.max_bulk_body_bytes = max_bulk_body_bytes
        self.timeout_seconds = timeout_seconds
        self.path = path

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Not a coroutine itself: a socket on /graphql gets the view's coroutine, with no
        frame of this layer kept alive for the socket's lifetime (BENCHMARKS.md). Of the
        middleware stack only the request id applies to sockets; it is set in the socket's
        own task (uvicorn runs one per connection), whose context ends with it."""
        if scope["type"] == "websocket" and scope["path"] == self.path:
            request_id.current.set(request_id.assign(scope))
            return self.view.socket(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _eligible(scope, self.path)
        if headers is None:
            await self.app(scope, receive, send)
            return
        rid = request_id.assign(scope)
        token = request_id.current.set(rid)
        try:
            if not await self.limit.admit(scope, send):
                return
            body = await read_body(scope, receive, send, self.max_body_bytes, self.timeout_seconds,
                                   self.max_bulk_body_bytes)
            if body is None:
                return
            try:
                status, content, media_type, extra, errors = await self._answer(
                    scope, headers, body)
                caching = read_cache.decide(
                    method=scope["method"], status=status, errors=errors,
                    principal=scope.get(PRINCIPAL), media_type=CONTENT_TYPES[media_type],
                    body=content, if_none_match=headers.get("if-none-match"),
                    max_age=self.view.read_cache_max_age)
                self.view.revalidation.after(scope, caching)
            except NotModified as early:
                status, content, media_type, extra = 304, b"", JSON, []
                caching = early.caching
            except _FullPath:
                scope[BODY_READ] = True
                await self.app(scope, replaying(body, receive), send)
                return
            except TimeoutError:
                await too_late(self.timeout_seconds).send(send)
                return
            except Exception:  # what Starlette's ServerErrorMiddleware would have caught
                log.exception("request failed outside the operation")
                refusal = internal_error(rid)
                status, media_type, extra, content = refusal.status, JSON, [], refusal.body()
                caching = read_cache.Caching(read_cache.NO_STORE)
            await self._respond(send, rid, status, content, media_type, extra, caching)
        finally:
            request_id.current.reset(token)

    @staticmethod
    async def _respond(send: Send, rid: str, status: int, content: bytes, media_type: str,
                       extra: list[tuple[bytes, bytes]], caching: read_cache.Caching) -> None:
        """The headers in the full path's order; a 304 without a body or its headers."""
        vary = b"Accept, Authorization, Origin" if caching.etag else b"Accept, Origin"
        if caching.not_modified:
            status, content, start = 304, b"", []
        else:
            start = [(b"content-type", CONTENT_TYPES[media_type].encode()),
                     (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": [
            *start,
            (b"vary", vary),  # as CORSMiddleware leaves it on the full path
            *caching.headers(),
            *extra,
            (b"x-request-id", rid.encode()),
        ]})
        await send({"type": "http.response.body", "body": content})

    async def _answer(
        self, scope: Scope, headers: Headers, body: bytes
    ) -> tuple[int, bytes, str, list[tuple[bytes, bytes]], bool]:
        method = scope["method"]
        query, variables, name, extensions = (
            _url_operation(scope) if method == "GET" else _operation(body))
        view = self.view
        request = Request(scope)
        sub_response = Response()
        sub_response.status_code = None  # type: ignore[assignment]
        del sub_response.headers["content-length"]
        async with asyncio.timeout(self.timeout_seconds if self.timeout_seconds > 0 else None):
            context = await view.get_context(request, sub_response)

            async def execute(document: Any) -> ExecutionResult:
                await view.revalidation.before(
                    scope, context, document, variables, name, negotiate(headers.get("accept")),
                    headers.get("if-none-match"), view.read_cache_max_age)
                try:
                    found = await view.schema.execute(
                        document, variable_values=variables, context_value=context,
                        operation_name=name, operation_extensions=extensions,
                        allowed_operation_types=ALLOWED_GET if method == "GET" else ALLOWED,
                    )
                except (CannotGetOperationTypeError, InvalidOperationTypeError,
                        MissingQueryError):
                    raise _FullPath from None  # before execution: let Strawberry answer
                if not isinstance(found, ExecutionResult):
                    raise GraphQLError(f"unexpected execution result {type(found).__name__}")
                return found

            try:
                result = await view.persisted.run(query, extensions, context.principal,
                                                  sub_response, execute)
            finally:
                context.release()  # the loaders' values go now (Context.release)
        data = await view.process_result(request, result)
        media_type = negotiate(headers.get("accept") or None)
        status = sub_response.status_code or 200
        if media_type == GRAPHQL_RESPONSE_JSON:
            refused = request_error_status(data)
            if refused is not None:
                data = data.copy()
                data.pop("data", None)
                if not sub_response.status_code:
                    status = refused
        elif media_type != JSON:
            media_type = JSON
        return (status, encode(data), media_type, sub_response.headers.raw,
                bool(data.get("errors")))
