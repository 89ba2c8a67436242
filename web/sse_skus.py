"""One Server-Sent Events feed of several SKUs: `GET /skus/events?sku=A&sku=B` (or `?sku=A,B`),
routed by bootstrap/app.py; the operator console's table (static/console/) reads it.

The connection holds ONE feed slot of its caller and is admitted and refused as the per-SKU
feed (web/sse.py: scope inventory:read, 401/403/429), over `StockFeed.watch_each`: one buffer
for all its SKUs. Past `max_skus` (SSE_MAX_SKUS) it is refused 400 TOO_MANY_SKUS; once the
caller is admitted, an unknown code 404 NOT_FOUND, a bundle 400 BAD_USER_INPUT, before any
SKU stream is opened.

Resuming is by re-reading: every connection starts with one `snapshot` per SKU (its figures
and sequence), then each SKU's `stock` events after it, in that SKU's sequence order. `id:` is
`<sku>/<sequence>`, for the reader; Last-Event-ID is ignored, since the snapshots sent again on
a reconnect carry each SKU's sequence (a client that wants the events in between reads them
with the stockEvents query's afterSequence).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from domain.model import Sku
from domain.rules import text_fault
from feed.hub import FeedOverflow, StockFeed
from ops.metrics import SLOW_CONSUMERS, SUBSCRIPTIONS
from service import views
from web import refusals, sse, sse_format
from web.refusals import Refusal
from web.state import services
from web.watched import WatchedStream


def requested(request: Request) -> list[str]:
    """The `sku` parameters, each possibly a comma list, in order, without repeats."""
    codes: dict[str, None] = {}
    for value in request.query_params.getlist("sku"):
        for code in value.split(","):
            if code.strip():
                codes[code.strip()] = None
    return list(codes)


def refusal(codes: list[str], max_skus: int) -> Refusal | None:
    if not codes:
        return Refusal(400, "BAD_USER_INPUT", "name the SKUs: /skus/events?sku=A&sku=B")
    if len(codes) > max_skus:
        return Refusal(400, "TOO_MANY_SKUS",
                       f"{len(codes)} SKUs asked; one feed follows at most {max_skus} "
                       "(SSE_MAX_SKUS): open another for the rest")
    for code in codes:
        if (fault := text_fault(code)) is not None:
            return Refusal(400, "BAD_USER_INPUT", f"the SKU code {fault}")
    return None


def unknown_or_bundle(codes: list[str], found: dict[str, Sku]) -> Refusal | None:
    for code in codes:
        sku = found.get(code)
        if sku is None:
            return Refusal(404, "NOT_FOUND", f"unknown SKU {code!r}")
        if sku.is_bundle:
            return refusals.bundle_events(code)
    return None


def sku_list_events(max_skus: int) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        codes = requested(request)
        if (refused := refusal(codes, max_skus)) is not None:
            return refused.feed_response()
        feed: StockFeed = services(request).feed
        gatekeeper = services(request).gatekeeper
        revoked = asyncio.Event()
        admitted = await sse.admit(request, revoked)  # before the codes are looked up
        if isinstance(admitted, Response):
            return admitted
        principal, watched = admitted
        try:
            refused = unknown_or_bundle(codes, await views.skus_by_code(feed.pool, codes))
            if refused is not None:  # before any SKU stream is opened for it
                gatekeeper.unwatch(watched)
                return refused.feed_response()
            stream = feed.watch_each(codes)
            watch = await stream.__aenter__()
        except BaseException:
            gatekeeper.unwatch(watched)
            raise
        try:  # read after registering: nothing after these figures is missed
            found = await views.skus_by_code(feed.pool, codes)
        except BaseException:
            gatekeeper.unwatch(watched)
            await stream.__aexit__(None, None, None)
            raise

        async def rendered() -> AsyncIterator[bytes]:
            last = {code: sku.sequence for code, sku in found.items()}
            while True:
                event = await watch.next()
                if event.sequence <= last.get(event.sku, 2**63):
                    continue  # already in a snapshot, or a SKU deleted meanwhile
                last[event.sku] = event.sequence
                yield b"id: %s/%d\nevent: stock\ndata: %s\n\n" % (
                    event.sku.encode(), event.sequence,
                    sse_format.event_data(event, principal))

        async def body() -> AsyncIterator[bytes]:
            SUBSCRIPTIONS.labels("sse").inc()
            try:
                yield b"retry: 1000\n\n"
                for code in codes:
                    if (sku := found.get(code)) is not None:
                        yield b"id: %s/%d\nevent: snapshot\ndata: %s\n\n" % (
                            code.encode(), sku.sequence, sse_format.snapshot_data(sku))
                async for item in sse.paced(rendered(), revoked):
                    yield item
            except FeedOverflow:
                SLOW_CONSUMERS.labels("sse").inc()
                return  # the client reconnects and re-reads the snapshots
            finally:
                SUBSCRIPTIONS.labels("sse").dec()

        async def release() -> None:
            gatekeeper.unwatch(watched)
            await stream.__aexit__(None, None, None)

        return WatchedStream(body(), release=release, media_type="text/event-stream",
                             headers=sse.HEADERS)

    return endpoint
