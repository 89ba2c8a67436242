"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/) on top of Strawberry's
ASGI view: web/view.py's InventoryGraphQL and web/fast_path.py build on it.

The spec as audited by graphql-http's `auditServer`.

Strawberry 0.341 always answers `application/json` with status 200 and a `data` entry. This
adds what the spec asks of a server that also speaks `application/graphql-response+json`:

* content negotiation on `Accept` (q-values honoured): `application/graphql-response+json`
  when the client prefers it; `application/json` when it asks for that, sends `*/*` or
  `application/*`, sends no `Accept`, or accepts nothing we serve (lenient, no 406);
* under `application/graphql-response+json`, a request error (the document does not parse
  or validate, a variable does not coerce, an unknown operation: errors and no execution)
  answers 400 without the `data` entry (500 if the error was a masked internal one); field
  errors keep 200 and `data`, as the spec asks. Under `application/json` nothing changes;
* a mutation sent with GET answers 405 with `Allow: POST` (the spec's MUST), not 400.

A JSON body that is neither an object nor a list (`42`, `null`, `"x"`) answers 400 (Strawberry
would fail with a 500). Everything else is Strawberry's own: non-object `variables`/`extensions`
and non-string `query` already answer 400, unparsable JSON 400, GraphiQL, multipart and SSE
streams and WebSockets are untouched.

Use: `class InventoryGraphQL(GraphQLOverHTTP[Context, None])` instead of `GraphQL[...]`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TypeVar

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
CONTENT_TYPES = {GRAPHQL_RESPONSE_JSON: f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8", JSON: JSON}

NOT_AN_OBJECT = "The request body must be a JSON object."

ContextT = TypeVar("ContextT")
RootValueT = TypeVar("RootValueT")


@lru_cache(maxsize=256)  # clients send a handful of distinct headers; parsing one was ~2 %
def negotiate(accept: str | None) -> str:
    """The response media type for an `Accept` header: the supported type with the highest
    q-value (RFC 9110: the most specific matching range sets it); on a tie a type named
    outright beats one matched by a wildcard, then the earlier range, then application/json.
    """
    if not accept or not accept.strip():
        return JSON
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media_range, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if media_range:
            ranges.append((media_range.lower(), quality))

    best: tuple[float, bool, int, bool] | None = None
    chosen = JSON
    for media_type in (GRAPHQL_RESPONSE_JSON, JSON):
        kind = media_type.split("/", 1)[0]
        matches = [  # (specificity, -position, q) of each range that covers this type
            (3 if rng == media_type else 2 if rng == f"{kind}/*" else 1, -position, q)
            for position, (rng, q) in enumerate(ranges)
            if rng in (media_type, f"{kind}/*", "*/*")
        ]
        if not matches:
            continue
        specificity, neg_position, quality = max(matches)
        if quality <= 0:
            continue
        key = (quality, specificity == 3, neg_position, media_type == JSON)
        if best is None or key > best:
            best, chosen = key, media_type
    return chosen


def encode(data: object) -> bytes:
    """JSON as the responses carry it: orjson (UTF-8 rather than ASCII
    escapes), json.dumps for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


def _code(error: object) -> object:
    extensions = error.get("extensions") if isinstance(error, dict) else None
    return extensions.get("code") if isinstance(extensions, dict) else None


def request_error_status(response: GraphQLHTTPResponse) -> int | None:
    """400 (500 for a masked internal error) if `response` reports a request error, one
    raised before execution began: `data` is null and no error has a `path`. A field error
    always has a path, so `{"data": null, "errors": [{"path": ...}]}` stays a 200."""
    errors = response.get("errors")
    if response.get("data") is not None or not errors:
        return None
    if any(not isinstance(e, dict) or "path" in e for e in errors):
        return None
    return 500 if any(_code(e) == "INTERNAL_SERVER_ERROR" for e in errors) else 400


class _MethodNotAllowed(Exception):
    def __init__(self, reason: str, allow: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.allow = allow


class GraphQLOverHTTP(GraphQL[ContextT, RootValueT]):
    """Strawberry's ASGI view with GraphQL-over-HTTP content negotiation and status codes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except _MethodNotAllowed as error:  # raised before anything was sent
            response = PlainTextResponse(  # 405 is cacheable by default (RFC 9110)
                error.reason, status_code=405,
                headers={"Allow": error.allow, "Cache-Control": "no-store"})
            await response(scope, receive, send)

    def parse_json(self, data: str | bytes) -> object:
        """A JSON body is one object (or a list, which the batching rules then refuse):
        `42`, `null`, `"x"` or `true` answer 400 here instead of failing later."""
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, NOT_AN_OBJECT)
        return parsed

    def encode_json(self, data: object) -> str:
        # str, not bytes: the WebSocket handlers send what this returns as a text frame
        return encode(data).decode()

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # The negotiated type rides on the sub-response to `create_response`; Strawberry
        # reads only its headers, status code and background from it.
        sub_response.media_type = negotiate(request.headers.get("accept"))
        return sub_response

    async def execute_single(  # noqa: PLR0917
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: ContextT,
        root_value: RootValueT | None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request=request, request_adapter=request_adapter, sub_response=sub_response,
                context=context, root_value=root_value, request_data=request_data,
            )
        except HTTPException as error:
            cause = error.__cause__
            if (
                request_adapter.method == "GET"
                and isinstance(cause, InvalidOperationTypeError)
                and cause.operation_type is OperationType.MUTATION
            ):
                raise _MethodNotAllowed(error.reason, allow="POST") from cause
            raise

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        media_type = sub_response.media_type if sub_response.media_type in CONTENT_TYPES else JSON
        if media_type == GRAPHQL_RESPONSE_JSON and isinstance(response_data, dict):
            status = request_error_status(response_data)
            if status is not None:
                response_data = response_data.copy()
                response_data.pop("data", None)
                if not sub_response.status_code:  # a resolver's own status wins
                    sub_response.status_code = status
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = CONTENT_TYPES[media_type]
        response.headers.add_vary_header("Accept")
        return response


__all__ = [
    "CONTENT_TYPES",
    "GRAPHQL_RESPONSE_JSON",
    "JSON",
    "NOT_AN_OBJECT",
    "encode",
    "GraphQLOverHTTP",
    "negotiate",
    "request_error_status",
]
