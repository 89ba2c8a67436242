"""Two pure-ASGI guards for HTTP requests: a body cap (413, or 408 past REQUEST_TIMEOUT_SECONDS)
and a deadline for the response (504); bootstrap/app.py installs them, web/fast_path.py too.

A body may pass MAX_BODY_BYTES, up to MAX_BULK_BODY_BYTES, only while what arrived by then
names a bulk mutation (its query sent before its variables, as clients send them); any other
body is refused at MAX_BODY_BYTES without reading further. Once read, a body past
MAX_BODY_BYTES must really be one: a JSON object whose operation selects bulk mutations only
(naming one in a comment, a string or a second operation earns nothing).

WebSockets pass through both untouched."""

from __future__ import annotations

import asyncio

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.refusals import Refusal, too_large, too_late


def too_slow(seconds: float) -> Refusal:
    return Refusal(408, "REQUEST_TIMEOUT", f"The request body did not arrive within {seconds:g} s",
                   headers=((b"connection", b"close"),))


BULK_FIELDS = (b"bulkAdjustStock", b"bulkSetStock")
BULK_NAMES = frozenset(name.decode() for name in BULK_FIELDS) | {"__typename"}
QUERY_TOKENS = 5000  # a bulk document is short: its lines travel as variables


def _names_bulk(chunks: list[bytes]) -> bool:
    head = b"".join(chunks)
    return any(name in head for name in BULK_FIELDS)


def is_bulk(body: bytes) -> bool:
    """Whether `body` is one GraphQL request whose operation is a mutation selecting bulk
    mutations only (what earns MAX_BULK_BODY_BYTES)."""
    try:
        request = orjson.loads(body)
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return False
        document = parse(request["query"], no_location=True, max_tokens=QUERY_TOKENS)
    except (orjson.JSONDecodeError, GraphQLError):
        return False
    name = request.get("operationName")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                  and (name is None or (d.name is not None and d.name.value == name))]
    if len(operations) != 1 or operations[0].operation != OperationType.MUTATION:
        return False
    selections = operations[0].selection_set.selections
    return bool(selections) and all(
        isinstance(s, FieldNode) and s.name.value in BULK_NAMES for s in selections)


async def read_body(scope: Scope, receive: Receive, send: Send, max_bytes: int,
                    seconds: float = 0, bulk_bytes: int = 0) -> bytes | None:
    """The whole body, never a chunk past `max_bytes` (or `bulk_bytes` for a bulk mutation;
    a declared Content-Length over the limit is refused without reading anything), within
    `seconds` (0: no bound) of the first read; None once answered 413 or 408, or the client
    left."""
    ceiling = max(max_bytes, bulk_bytes)
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isdigit() and int(declared) > ceiling:
        await too_large(max_bytes).send(send)
        return None
    chunks: list[bytes] = []
    size, more, bulk = 0, True, False
    try:
        async with asyncio.timeout(seconds if seconds > 0 else None):
            while more:
                message = await receive()
                if message["type"] != "http.request":  # the client went away
                    return None
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = message.get("more_body", False)
                if size > max_bytes and not bulk:
                    bulk = bulk_bytes > max_bytes and _names_bulk(chunks)  # checked once
                    if not bulk:
                        await too_large(max_bytes).send(send)
                        return None
                if size > ceiling:
                    await too_large(ceiling).send(send)
                    return None
    except TimeoutError:
        await too_slow(seconds).send(send)
        return None
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if bulk and not is_bulk(body):
        await too_large(max_bytes).send(send)
        return None
    return body


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the real channel."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


BODY_READ = "inventory.body_read"  # scope key: web.fast_path read the body within the limit


class BodyLimit:
    """Reads the body up to `max_bytes` (`bulk_bytes` for a bulk mutation), within `seconds`,
    before the app sees it (read_body)."""

    def __init__(self, app: ASGIApp, max_bytes: int, seconds: float = 0,
                 bulk_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds
        self.bulk_bytes = bulk_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get(BODY_READ):
            await self.app(scope, receive, send)
            return
        body = await read_body(scope, receive, send, self.max_bytes, self.seconds,
                               self.bulk_bytes)
        if body is not None:
            await self.app(scope, replaying(body, receive), send)


class RequestTimeout:
    """The app must start its response within `seconds`; after that the deadline is lifted,
    so an event stream or a multipart subscription runs as long as its client stays."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        started = False
        deadline = asyncio.timeout(self.seconds)

        async def send_and_lift(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                deadline.reschedule(None)
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, send_and_lift)
        except TimeoutError:
            if started or not deadline.expired():  # not ours, or too late for a 504
                raise
            await too_late(self.seconds).send(send)
