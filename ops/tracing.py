"""OpenTelemetry spans when OTEL_EXPORTER_OTLP_ENDPOINT is set; nothing at all otherwise (a
schema extension installed by schema.root)."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def tracing_extensions() -> list[Any]:
    """Strawberry's OpenTelemetry extension, with an OTLP/HTTP exporter, if configured."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return []
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from strawberry.extensions.tracing import OpenTelemetryExtension
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry is not installed")
        return []
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        service = os.environ.get("OTEL_SERVICE_NAME", "inventory-server")
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        # the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS) itself
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    return [OpenTelemetryExtension]
