"""The pure parts of tracing: a traceparent read back (or refused), and the root sampler that
drops background tasks' SQL and Redis spans but keeps requests and deliveries."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind

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
