"""Tracing's parts without a collector: a traceparent read back (or refused), the root sampler
that drops background tasks' SQL and Redis spans, the origins of events and their wire form."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind

from domain.model import AvailabilityStatus, StockEvent, StockEventKind
from feed import codec
from ops import trace_links, tracing
from ops.trace_links import parse
from ops.tracing import BackgroundClientSpans, wanted


def test_a_traceparent_is_read_back() -> None:
    context = parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert context is not None
    assert (context.trace_id, context.span_id) == (0x0af7651916cd43dd8448eb211c80319c,
                                                   0xb7ad6b7169203331)
    assert context.trace_flags.sampled and context.is_remote


@pytest.mark.parametrize("text", [
    None, "", "garbage", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # invalid: all zeros
    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ",
])
def test_anything_else_is_no_origin(text: str | None) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(("kind", "decision"), [
    (SpanKind.CLIENT, Decision.DROP),  # a sweep's SELECT, a poll's Redis command
    (SpanKind.SERVER, Decision.RECORD_AND_SAMPLE),  # an HTTP request
    (SpanKind.PRODUCER, Decision.RECORD_AND_SAMPLE),  # a delivery
    (SpanKind.INTERNAL, Decision.RECORD_AND_SAMPLE),
])
def test_roots_are_kept_except_background_client_spans(kind: SpanKind,
                                                        decision: Decision) -> None:
    result = BackgroundClientSpans().should_sample(None, 1, "SELECT", kind)
    assert result.decision is decision


@pytest.mark.parametrize(("env", "on"), [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
     False),
])
def test_tracing_is_wanted_only_with_an_endpoint(env: dict[str, str], on: bool) -> None:
    assert wanted(env) is on


def event(sequence: int = 7) -> StockEvent:
    return StockEvent(
        sku="A", sequence=sequence, kind=StockEventKind.RESERVED, location_id=1, location="W",
        on_hand_delta=0, reserved_delta=1, level=None, sku_on_hand=5, sku_reserved=1,
        available=4, status=AvailabilityStatus.IN_STOCK, reason=None, reservation_id="r",
        reference="x", occurred_at=datetime(2026, 12, 1, tzinfo=UTC))


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tracing's switch on, without a provider (spans are not recorded): the origins alone."""
    monkeypatch.setitem(tracing._state, "on", True)
    trace_links._origins.clear()
    yield
    trace_links._origins.clear()


ORIGIN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_the_backbone_carries_the_origin_to_another_instance(traced: None) -> None:
    sent = codec.encode(event())  # no origin known: the message is as before
    assert "traceparent" not in orjson.loads(sent)
    trace_links.adopt(event(), ORIGIN)
    sent = codec.encode(event())
    assert orjson.loads(sent)["traceparent"] == ORIGIN
    trace_links._origins.clear()  # the other instance
    assert codec.decode(sent) == event()
    assert trace_links.traceparent(event()) == ORIGIN


def test_a_message_without_an_origin_or_with_a_bad_one_decodes_the_same(traced: None) -> None:
    for extra in ({}, {"traceparent": "nonsense"}, {"traceparent": 17}):
        message = orjson.dumps({**orjson.loads(codec.encode(event())), **extra}).decode()
        assert codec.decode(message) == event()
    assert trace_links.traceparent(event()) is None


def test_an_origin_is_kept_first_come_and_forgotten_past_the_bound(traced: None) -> None:
    trace_links.adopt(event(), ORIGIN)
    trace_links.adopt(event(), ORIGIN.replace("b7ad", "c7ad"))
    assert trace_links.traceparent(event()) == ORIGIN
    origin = trace_links.parse(ORIGIN)
    trace_links.remember([event(n) for n in range(8, 8 + trace_links.ORIGINS)], origin)
    assert len(trace_links._origins) == trace_links.ORIGINS
    assert trace_links.traceparent(event()) is None  # the oldest went first


def test_a_delivery_span_links_each_origin_once(traced: None) -> None:
    origin = trace_links.parse(ORIGIN)
    with trace_links.span("feed deliver", [origin, origin, None]) as made:
        assert made is not None


def test_while_off_nothing_is_remembered() -> None:
    trace_links._origins.clear()
    trace_links.adopt(event(), ORIGIN)
    assert trace_links.traceparent(event()) is None
    assert "traceparent" not in orjson.loads(codec.encode(event()))
