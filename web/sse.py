"""A plain Server-Sent Events feed per SKU: `GET /skus/{code}/events` (routed by bootstrap/app.py),
and the admission and pacing it shares with web/sse_skus.py's feed of several SKUs.

`id:` is the event's sequence, so a browser's EventSource resumes by itself after a dropped
connection (it sends Last-Event-ID). Without one, the first event is a `snapshot`. A request
holds a feed slot of its key (or its address, anonymous) until its response ends, however.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from domain.access import Principal, Scope
from domain.rules import text_fault
from feed.hub import FeedOverflow, StockFeed
from ops.metrics import SLOW_CONSUMERS, SUBSCRIPTIONS
from service.access import AccessError, Feed, Gatekeeper
from web import caller, refusals, sse_format
from web.refusals import Refusal
from web.state import services
from web.watched import WatchedStream

KEEP_ALIVE = 15.0
STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "TOO_MANY_CONNECTIONS": 429,
          "DUPLICATE_AUTHORIZATION": 400}
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _resume_point(request: Request) -> int | None:
    """The sequence to resume after: 0 to 2^63-1 in plain digits (a ledger sequence is a
    bigint), else ValueError, answered 400 before anything streams."""
    raw = request.headers.get("last-event-id") or request.query_params.get("after")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or int(raw) > 2**63 - 1:
        raise ValueError(raw)
    return int(raw)


async def admit(
    request: Request, revoked: asyncio.Event
) -> tuple[Principal | None, Feed | None] | Response:
    """The caller (scope inventory:read) and the feed slot it now holds, or the refusal; a
    revoked or narrowed key sets `revoked`. The caller unwatches the slot on every exit."""
    gatekeeper: Gatekeeper = services(request).gatekeeper

    async def close(reason: str) -> None:
        revoked.set()

    try:
        principal = await gatekeeper.principal(caller.authorization(request.scope))
        gatekeeper.check(principal, Scope.READ)
        watched = gatekeeper.watch(principal, Scope.READ, close,
                                   address=caller.address(request.scope))
    except AccessError as error:
        status = STATUS.get(error.code, 403)
        return Refusal(status, error.code, error.message).feed_response()
    return principal, watched


async def paced(items: AsyncIterator[bytes], revoked: asyncio.Event) -> AsyncIterator[bytes]:
    """`items`, a keep-alive comment after KEEP_ALIVE seconds of silence, and an `error` event
    (FORBIDDEN) that ends the stream once the caller's key is revoked."""
    items = items.__aiter__()
    next_item = asyncio.ensure_future(items.__anext__())
    revoked_wait = asyncio.ensure_future(revoked.wait())
    try:
        while not revoked.is_set():
            done, _ = await asyncio.wait(
                {next_item, revoked_wait}, timeout=KEEP_ALIVE, return_when=asyncio.FIRST_COMPLETED,
            )
            if revoked.is_set():
                yield b"event: error\ndata: {\"code\":\"FORBIDDEN\"}\n\n"
                return
            if not done:
                yield b": keep-alive\n\n"
                continue
            item = next_item.result()
            next_item = asyncio.ensure_future(items.__anext__())
            yield item
    finally:
        next_item.cancel()
        revoked_wait.cancel()


async def sku_events(request: Request) -> Response:
    code = request.path_params["code"]
    try:
        after = _resume_point(request)
    except ValueError:
        return Refusal(400, "BAD_USER_INPUT", "Last-Event-ID must be a sequence").feed_response()
    if (fault := text_fault(code)) is not None:
        return Refusal(400, "BAD_USER_INPUT", f"the SKU code {fault}").feed_response()
    gatekeeper: Gatekeeper = services(request).gatekeeper
    revoked = asyncio.Event()
    admitted = await admit(request, revoked)
    if isinstance(admitted, Response):
        return admitted
    principal, watched = admitted
    try:
        feed: StockFeed = services(request).feed
        stream = feed.follow(code, after)
        follow = await stream.__aenter__()
    except BaseException:
        gatekeeper.unwatch(watched)
        raise
    if follow.snapshot is None or follow.snapshot.is_bundle:
        gatekeeper.unwatch(watched)
        await stream.__aexit__(None, None, None)
        if follow.snapshot is not None:
            return refusals.bundle_events(code).feed_response()
        return Refusal(404, "NOT_FOUND", f"unknown SKU {code!r}").feed_response()

    async def rendered() -> AsyncIterator[bytes]:
        async for event in follow.events():
            yield b"id: %d\nevent: stock\ndata: %s\n\n" % (
                event.sequence, sse_format.event_data(event, principal))

    async def body() -> AsyncIterator[bytes]:
        SUBSCRIPTIONS.labels("sse").inc()
        try:
            yield b"retry: 1000\n\n"
            if after is None and follow.snapshot is not None:
                yield b"id: %d\nevent: snapshot\ndata: %s\n\n" % (
                    follow.snapshot.sequence, sse_format.snapshot_data(follow.snapshot))
            async for item in paced(rendered(), revoked):
                yield item
        except FeedOverflow:
            SLOW_CONSUMERS.labels("sse").inc()
            return  # the browser reconnects with Last-Event-ID and resumes from the ledger
        finally:
            SUBSCRIPTIONS.labels("sse").dec()

    async def release() -> None:
        gatekeeper.unwatch(watched)
        await stream.__aexit__(None, None, None)

    return WatchedStream(body(), release=release, media_type="text/event-stream", headers=HEADERS)
