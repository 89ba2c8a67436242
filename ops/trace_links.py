"""Which span committed each stock event, for the spans that publish and deliver it later
(feed/outbox.py, feed/audience.py, feed/webhook_delivery.py) to link to; no-ops while off.

A committed event's origin is the span current when its mutation handed it to the feed (the
GraphQL operation's), kept in memory by (SKU, sequence) for the last ORIGINS events; it crosses
instances as a W3C `traceparent` (feed/codec.py's wire form, a webhook delivery's row)."""

from __future__ import annotations

import contextlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, TypeAlias

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

from ops import tracing

ORIGINS = 10_000
Origin: TypeAlias = SpanContext  # what made an event: its mutation's span
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_origins: OrderedDict[tuple[str, int], SpanContext] = OrderedDict()


class Event(Protocol):
    @property
    def sku(self) -> str: ...

    @property
    def sequence(self) -> int: ...


def current() -> SpanContext | None:
    """The current span's context, if tracing is on and a span is current."""
    if not tracing.on():
        return None
    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


def remember(events: Iterable[Event], origin: SpanContext | None = None) -> None:
    """`origin` (else the current span) made `events`; an event whose origin is known keeps it."""
    if not tracing.on():
        return
    origin = origin or current()
    if origin is None:
        return
    for event in events:
        _origins.setdefault((event.sku, event.sequence), origin)
    while len(_origins) > ORIGINS:
        _origins.popitem(last=False)


def origin_of(event: Event) -> SpanContext | None:
    return _origins.get((event.sku, event.sequence)) if tracing.on() else None


def traceparent(event: Event) -> str | None:
    """The event's origin as a W3C traceparent, if known."""
    origin = origin_of(event)
    if origin is None:
        return None
    return f"00-{origin.trace_id:032x}-{origin.span_id:016x}-{int(origin.trace_flags):02x}"


def adopt(event: Event, text: object) -> None:
    """Remembers the origin another instance sent as `text` (a traceparent; anything else, as
    from an instance without tracing, is ignored)."""
    if tracing.on() and isinstance(text, str):
        parsed = parse(text)
        if parsed is not None:
            remember((event,), parsed)


def parse(text: str | None) -> SpanContext | None:
    found = _TRACEPARENT.fullmatch(text) if text else None
    if found is None:
        return None
    context = SpanContext(int(found[1], 16), int(found[2], 16), is_remote=True,
                          trace_flags=TraceFlags(int(found[3], 16)))
    return context if context.is_valid else None


@contextlib.contextmanager
def span(name: str, origins: Sequence[SpanContext | None], *, child: bool = False,
         kind: SpanKind = SpanKind.PRODUCER) -> Iterator[Span | None]:
    """A span linked to each distinct origin in `origins`; with `child`, a child of the first
    (the backbone's publish, so that the Redis command is in the mutation's trace), otherwise a
    new trace's root (a delivery, which happens on its own time). None if tracing is off."""
    if not tracing.on():
        yield None
        return
    distinct = list({(o.trace_id, o.span_id): o for o in origins if o is not None}.values())
    parent = Context()
    if child and distinct:
        parent = trace.set_span_in_context(NonRecordingSpan(distinct.pop(0)), parent)
    tracer = trace.get_tracer("inventory.feed")
    with tracer.start_as_current_span(name, context=parent, kind=kind,
                                      links=[Link(o) for o in distinct]) as made:
        yield made
