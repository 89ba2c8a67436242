"""The two subscription fields: check the arguments, follow the SKU's feed, yield domain values
through `present` (schema/root.py binds it to the GraphQL type's from_domain)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol, TypeVar, cast

from graphql import GraphQLError

from domain import model
from domain.access import Principal
from domain.bundle_stock import no_events_of
from domain.ownership import shown_to
from domain.rules import text_fault
from feed.hub import FeedOverflow, StockFeed
from ops.metrics import SLOW_CONSUMERS, counted
from resolvers import channels
from resolvers.bundle_feed import BundleFigures, following
from resolvers.channel_feed import ChannelFigures
from resolvers.context import Info
from resolvers.handoff import SHARED_RESULTS, Handoff

MAX_THROTTLE_MS = 60_000
D = TypeVar("D")
P = TypeVar("P")


def _not_found(sku: str) -> GraphQLError:
    return GraphQLError(f"unknown SKU {sku!r}", extensions={"code": "NOT_FOUND"})


def _checked_sku(sku: str) -> str:
    """domain.rules' text rule for the `sku` argument: a bad one is BAD_USER_INPUT, before any
    feed is followed."""
    if (fault := text_fault(sku)) is not None:
        raise GraphQLError(f"`sku` {fault}", extensions={"code": "BAD_USER_INPUT"})
    return sku


def overflow_error(error: FeedOverflow) -> GraphQLError:
    """What a GraphQL subscriber that fell behind gets, once, as it is dropped (counted)."""
    SLOW_CONSUMERS.labels("graphql").inc()
    return GraphQLError(f"client fell more than {error.queue_size} events behind; "
                        "resubscribe with afterSequence to resume",
                        extensions={"code": "SLOW_CONSUMER"})


def _shared(feed: StockFeed, build: Callable[[D], P], value: D, key: Hashable) -> P:
    """The payload object every local subscriber gets for this event, marked so that its
    result is computed once per query shape (schema/execution.py)."""

    def make() -> P:
        payload = build(value)
        setattr(payload, SHARED_RESULTS, {})
        return payload

    return feed.shared((build, key), make)


def _event_payload(
    feed: StockFeed, present: Callable[[model.StockEvent], P], viewer: Principal | None,
    event: model.StockEvent,
) -> P:
    """The event as `viewer` may see it (domain.ownership): every viewer that sees the same
    fields shares one payload, so anonymous subscribers still share one execution."""
    shown = shown_to(event, viewer)
    return _shared(feed, present, shown, (event.sku, event.sequence, shown is event))


def snapshot_event(sku: model.Sku) -> model.StockEvent:
    return model.StockEvent(
        sku=sku.code, sequence=sku.sequence, kind=model.StockEventKind.SNAPSHOT,
        location_id=None, location=None, on_hand_delta=0, reserved_delta=0, level=None,
        sku_on_hand=sku.on_hand, sku_reserved=sku.reserved, available=sku.available,
        status=sku.status, reason=None, reservation_id=None, reference=None,
        occurred_at=datetime.now(UTC),
    )


async def stock_events(
    info: Info, sku: str, after_sequence: int | None, present: Callable[[model.StockEvent], P]
) -> AsyncGenerator[P, None]:
    _checked_sku(sku)
    if after_sequence is not None and after_sequence < 0:
        raise GraphQLError("afterSequence must not be negative",
                           extensions={"code": "BAD_USER_INPUT"})
    with counted("stockEvents"):
        async with info.context.feed.follow(sku, after_sequence) as follow:
            if follow.snapshot is None:
                raise _not_found(sku)
            if follow.snapshot.is_bundle:
                raise GraphQLError(no_events_of(sku), extensions={"code": "BAD_USER_INPUT"})
            feed = info.context.feed
            viewer = info.context.principal
            if after_sequence is None:
                yield present(snapshot_event(follow.snapshot))
            try:
                if info.context.handoff:  # replay here, then the transport takes live events
                    async for event in follow.replay():
                        yield _event_payload(feed, present, viewer, event)
                    # not a presented event: execution passes it through to the transport
                    yield cast(P, Handoff("stockEvents", follow, functools.partial(
                        _event_payload, feed, present, viewer)))
                    return
                async for event in follow.events():
                    yield _event_payload(feed, present, viewer, event)
            except FeedOverflow as error:
                raise overflow_error(error) from None


def _figures(base: model.Sku, event: model.StockEvent) -> model.Sku:
    return replace(base, on_hand=event.sku_on_hand, reserved=event.sku_reserved,
                   available=event.available, sequence=event.sequence)


async def _sku_wide(base: model.Sku, event: model.StockEvent) -> model.Sku:
    return _figures(base, event)


async def availability(
    info: Info, sku: str, throttle_ms: int | None, present: Callable[[model.Sku], P],
    channel: str | None = None,
) -> AsyncGenerator[P, None]:
    """With `channel`, the SKU's available and status are the channel's (a NOT_FOUND error
    for an unknown channel), pushed when they change, and only then."""
    _checked_sku(sku)
    throttle = (throttle_ms or 0) / 1000
    if not 0 <= throttle * 1000 <= MAX_THROTTLE_MS:
        raise GraphQLError(f"throttleMs must be between 0 and {MAX_THROTTLE_MS}",
                           extensions={"code": "BAD_USER_INPUT"})
    through = await channels.known(info, channel) if channel is not None else None
    with counted("availability"):
        async with info.context.feed.follow(sku, None, coalesce=True) as follow:
            if follow.snapshot is None:
                raise _not_found(sku)
            shown = follow.snapshot
            if not shown.is_bundle:
                figures: Callable[[model.Sku, model.StockEvent], Awaitable[model.Sku]] = (
                    _sku_wide)
                if through is not None:
                    by_channel = ChannelFigures(info.context.inventory.pool, through, shown)
                    shown = await by_channel.start()
                    figures = by_channel.apply
                yield present(shown)
                async for current in _changes(follow, shown, throttle, figures):
                    yield _shared(info.context.feed, present, current,
                                  (current.code, current.sequence, channel))
        # a bundle has no events of its own: it follows its components (having left its own)
        async for value in _bundle_availability(info, shown, through, throttle, present):
            yield value


async def _bundle_availability(
    info: Info, bundle: model.Sku, through: model.Channel | None, throttle: float,
    present: Callable[[model.Sku], P],
) -> AsyncGenerator[P, None]:
    """A bundle's figures from its components' events: the components it had when the
    subscription started. Not shared between subscribers: its sequence stays 0, so nothing
    tells two moments of it apart."""
    components = await info.context.loaders.components.load(bundle.id)
    with following(info.context, len(components)):
        async with info.context.feed.watch_each(
                [c.sku for c in components], coalesce=True) as watch:
            figures = BundleFigures(info.context.inventory.pool, bundle, components, through,
                                    watch)
            shown = await figures.start()
            yield present(shown)
            async for current in _changes(figures, shown, throttle, figures.apply):
                yield present(current)


class Live(Protocol):
    """Where `_changes` takes events from: a Follow, or a bundle's BundleFigures."""

    async def live(self) -> model.StockEvent | None: ...


async def _changes(
    follow: Live, shown: model.Sku, throttle: float,
    figures: Callable[[model.Sku, model.StockEvent], Awaitable[model.Sku]] = _sku_wide,
) -> AsyncGenerator[model.Sku, None]:
    """Values that differ from the last one shown, at most one per `throttle` seconds as the
    client receives them; the latest wins and the last one of a burst is delivered when its
    window ends. A window opens when the generator resumes, i.e. when the transport has sent
    the value before (the snapshot included), not when that value was produced: a busy
    instance that sends late must not shorten the next gap."""
    loop = asyncio.get_running_loop()
    pending: model.Sku | None = None
    allowed_at = loop.time() + throttle
    while True:
        timeout = None if pending is None else max(0.0, allowed_at - loop.time())
        try:
            async with asyncio.timeout(timeout):
                event = await follow.live()
        except TimeoutError:
            event = None
        if event is not None:
            current = await figures(shown, event)
            changed = (current.available, current.status) != (shown.available, shown.status)
            pending = current if changed else None
        if pending is not None and loop.time() >= allowed_at:
            shown, pending = pending, None
            yield shown
            allowed_at = loop.time() + throttle
