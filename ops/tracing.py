"""OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) is set;
bootstrap/app.py calls `configure` once before building the app.

It wraps the app only if `configure` answered True; nothing is instrumented, wrapped or
exported otherwise.

On: an OTLP/HTTP exporter behind a batch processor, asyncpg and Redis instrumented by
OpenTelemetry's own instrumentations (statements with their $n placeholders, Redis commands
with every argument as `?`: never a parameter), and a sampler that keeps every trace an HTTP
request (or an incoming `traceparent`) starts but drops the SQL and Redis spans that a
background task (a sweep, a poll, a claim) makes outside any trace."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

log = logging.getLogger(__name__)
SWITCHES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_state = {"on": False, "document": False}


def on() -> bool:
    """Whether `configure` turned tracing on in this process."""
    return _state["on"]


def record_document() -> bool:
    """OTEL_GRAPHQL_DOCUMENT=true: the GraphQL span carries the document's text."""
    return _state["document"]


def wanted(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if (env.get("OTEL_SDK_DISABLED") or "").lower() == "true":
        return False
    return any(env.get(name) for name in SWITCHES)


class BackgroundClientSpans(Sampler):
    """The root sampler: a CLIENT span without a parent is a statement or command of a
    background task (the feed's sweep, the partner tails, the webhook claims), dropped; every
    other root (an HTTP request, a delivery) is kept."""

    def should_sample(
        self, parent_context: Context | None, trace_id: int, name: str,
        kind: SpanKind | None = None, attributes: Attributes = None,
        links: Sequence[Link] | None = None, trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        chosen = ALWAYS_OFF if kind is SpanKind.CLIENT else ALWAYS_ON
        return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links,
                                    trace_state)

    def get_description(self) -> str:
        return "BackgroundClientSpans"


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Turns tracing on if `wanted` (once per process: the provider is global); True if on."""
    env = os.environ if env is None else env
    if _state["on"] or not wanted(env):
        return _state["on"]
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME")
                                  or "inventory-server"}),
        sampler=ParentBased(root=BackgroundClientSpans()),
    )
    # the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT and _HEADERS itself, the
    # processor OTEL_BSP_SCHEDULE_DELAY and the queue sizes
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # never the parameters: the statements use $n placeholders, so no value is recorded
    AsyncPGInstrumentor(capture_parameters=False).instrument(  # type: ignore[no-untyped-call]
        tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    _state["on"] = True
    _state["document"] = (env.get("OTEL_GRAPHQL_DOCUMENT") or "").lower() == "true"
    log.info("tracing on: spans exported over OTLP/HTTP")
    return True


def log_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids as hex (for ops/logs.py), if one is recording."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
