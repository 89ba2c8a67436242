"""One span per GraphQL operation under the semantic conventions, a child of the HTTP server
span; a schema extension that schema/root.py installs when ops/tracing.py turned tracing on.

Attributes: `graphql.operation.type`, `graphql.operation.name` (the client's name for it, cut
at 64 characters) and, only with OTEL_GRAPHQL_DOCUMENT=true, `graphql.document`. Never a
variable's or an argument's value (Strawberry's OpenTelemetryExtension records both: the query
and every resolver's arguments as `graphql.param.*`); the document itself holds the values a
client wrote inline, which is why it is off by default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, OperationDefinitionNode
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from strawberry.extensions import SchemaExtension

from ops import tracing

NAME_LIMIT = 64


class OperationSpan(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        tracer = trace.get_tracer("inventory.graphql")
        with tracer.start_as_current_span("GraphQL Operation", kind=SpanKind.INTERNAL) as span:
            yield
            if not span.is_recording():
                return
            try:
                kind = context.operation_type.value
            except RuntimeError:  # the document did not parse
                kind = ""
            name = (context.operation_name or _document_name(context.graphql_document))
            name = name[:NAME_LIMIT]
            if kind:
                span.set_attribute("graphql.operation.type", kind)
                span.update_name(f"{kind} {name}" if name else kind)
            if name:
                span.set_attribute("graphql.operation.name", name)
            if tracing.record_document() and context.query:
                span.set_attribute("graphql.document", context.query)
            errors = getattr(context.result, "errors", None) or context.pre_execution_errors
            if errors:
                span.set_status(Status(StatusCode.ERROR, f"{len(errors)} GraphQL errors"))


def _document_name(document: DocumentNode | None) -> str:
    names = [d.name.value for d in document.definitions if isinstance(d, OperationDefinitionNode)
             and d.name is not None] if document is not None else []
    return names[0] if len(names) == 1 else ""


def tracing_extensions() -> list[Any]:
    """OperationSpan if tracing is on (ops/tracing.py `configure` ran first)."""
    return [OperationSpan] if tracing.on() else []
