"""POST /graphql with a JSON body answered beside Starlette's stack and Strawberry's HTTP view
(whose cost BENCHMARKS.md gives); bootstrap/app.py wraps the app in it.

That is what partner clients, checkouts and storefront backends send all day.

The guards are the same objects the full path uses (request id, rate limit, body cap, deadline),
the operation runs through the same `schema.execute` with the same context, and the response is
built by the view's own `process_result` and GraphQL-over-HTTP rules, so a client cannot tell
the two paths apart (tests/api/test_fast_path.py compares them byte for byte).

WebSockets on the same path go straight to the view (see `_socket`). Anything else goes to
the full app unchanged: another method or path, a request
with an Origin header (CORS), a streaming or multipart Accept, a body that is not one JSON
object with a string `query`, a batch, `extensions`, or an operation that is not a query or a
mutation. A body already read is replayed to it, and the request is not counted twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from web import request_id
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
from web.view import InventoryGraphQL

log = logging.getLogger(__name__)

ALLOWED = frozenset({OperationType.QUERY, OperationType.MUTATION})
_JSON_TYPES = ("application/json", "application/json; charset=utf-8",
               "application/json;charset=utf-8")
_STREAMING = ("text/event-stream", "multipart/")


class _FullPath(Exception):
    """Raised before anything ran: the request needs the full app."""


def _eligible(scope: Scope, path: str) -> Headers | None:
    """The request's headers if only its body can still send it down the full path."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != path:
        return None
    headers = Headers(scope=scope)
    content_type = headers.get("content-type", "").lower()
    accept = headers.get("accept", "").lower()
    if (
        content_type not in _JSON_TYPES
        or "origin" in headers
        or any(kind in accept for kind in _STREAMING)
    ):
        return None
    return headers


def _operation(body: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _FullPath from None
    if not isinstance(data, dict) or "extensions" in data or not data.keys() <= {
        "query", "variables", "operationName"
    }:
        raise _FullPath
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    if (
        not isinstance(query, str) or not query
        or not (variables is None or isinstance(variables, dict))
        or not (name is None or isinstance(name, str))
    ):
        raise _FullPath
    return query, variables, name


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self.path:
            await self._socket(scope, receive, send)
            return
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
                status, content, media_type, extra = await self._answer(scope, headers, body)
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
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", CONTENT_TYPES[media_type].encode()),
                (b"content-length", str(len(content)).encode()),
                (b"vary", b"Accept, Origin"),  # as CORSMiddleware leaves it on the full path
                *extra,
                (b"x-request-id", rid.encode()),
            ]})
            await send({"type": "http.response.body", "body": content})
        finally:
            request_id.current.reset(token)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket on /graphql goes straight to the view: of the middleware stack only the
        request id applies to sockets, and every layer's frame would otherwise stay alive for
        the socket's lifetime (BENCHMARKS.md)."""
        token = request_id.current.set(request_id.assign(scope))
        try:
            await self.view(scope, receive, send)
        finally:
            request_id.current.reset(token)

    async def _answer(
        self, scope: Scope, headers: Headers, body: bytes
    ) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        query, variables, name = _operation(body)
        view = self.view
        request = Request(scope)
        sub_response = Response()
        sub_response.status_code = None  # type: ignore[assignment]
        del sub_response.headers["content-length"]
        async with asyncio.timeout(self.timeout_seconds if self.timeout_seconds > 0 else None):
            context = await view.get_context(request, sub_response)
            try:
                result = await view.schema.execute(
                    query, variable_values=variables, context_value=context,
                    operation_name=name, allowed_operation_types=ALLOWED,
                )
            except (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError):
                raise _FullPath from None  # raised before execution: let Strawberry answer
        if not isinstance(result, ExecutionResult):
            raise GraphQLError(f"unexpected execution result {type(result).__name__}")
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
        return status, encode(data), media_type, sub_response.headers.raw
