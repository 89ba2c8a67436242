"""OpenTelemetry spans when OTEL_EXPORTER_OTLP_ENDPOINT is set; nothing at all otherwise (a
schema extension installed by schema.root).

One span per operation, named after its type and operation name, with the outcome: never the
document's text nor an argument's value (Strawberry's OpenTelemetryExtension records both: the
query as an attribute, every resolver's arguments as `graphql.param.*`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

log = logging.getLogger(__name__)


class OperationSpan(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        from opentelemetry import trace

        context = self.execution_context
        tracer = trace.get_tracer("inventory.graphql")
        with tracer.start_as_current_span("GraphQL Operation") as span:
            span.set_attribute("component", "graphql")
            yield
            name = (context.operation_name or _document_name(context.graphql_document))[:64]
            if name:
                span.update_name(f"GraphQL Operation: {name}")
                span.set_attribute("graphql.operation.name", name)
            try:
                span.set_attribute("graphql.operation.type", context.operation_type.value)
            except RuntimeError:  # the document did not parse
                span.set_attribute("graphql.operation.type", "invalid")
            result = context.result
            span.set_attribute("graphql.errors", len(getattr(result, "errors", None) or ()))


def _document_name(document: DocumentNode | None) -> str:
    names = [d.name.value for d in document.definitions if isinstance(d, OperationDefinitionNode)
             and d.name is not None] if document is not None else []
    return names[0] if len(names) == 1 else ""


def tracing_extensions() -> list[Any]:
    """OperationSpan, with an OTLP/HTTP exporter, if configured."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return []
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry is not installed")
        return []
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        service = os.environ.get("OTEL_SERVICE_NAME", "inventory-server")
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        # the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS) itself
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    return [OperationSpan]
