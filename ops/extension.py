"""Per GraphQL operation: a metric sample and one structured log line (never variables nor
argument values); a schema extension installed by schema.root.

The `operation` label is the operation's root field (`skus`, `reserve`) once validation has
proved it is the schema's, never the client's operation name: the label set is closed, so a
client cannot grow /metrics by naming operations. Several root fields count as "multiple", a
refused or invalid document as "invalid"."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from graphql import FieldNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from ops.metrics import REQUEST_SECONDS, REQUESTS

log = logging.getLogger("inventory.requests")


class OperationMetrics(SchemaExtension):
    executed = False

    def on_execute(self) -> Iterator[None]:
        self.executed = True  # parsed and validated: its root fields are the schema's
        yield

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        elapsed = time.perf_counter() - started
        try:
            operation_type = context.operation_type.value
        except RuntimeError:  # the document did not parse
            operation_type = "invalid"
        if operation_type == "subscription":
            return  # its duration is the subscription's lifetime; counted as opened instead
        name = root_field(context) if self.executed else "invalid"
        result = context.result
        outcome = "error" if result is not None and getattr(result, "errors", None) else "ok"
        REQUESTS.labels(name, operation_type, outcome).inc()
        REQUEST_SECONDS.labels(name, operation_type).observe(elapsed)
        if not log.isEnabledFor(logging.INFO):
            return
        principal = getattr(context.context, "principal", None)
        log.info(
            "graphql %s %s", operation_type, name,
            extra={"operation": name, "outcome": outcome, "duration_ms": round(elapsed * 1000, 2),
                   "key": principal.name if principal else None},
        )


def root_field(context: ExecutionContext) -> str:
    """The selected operation's root field name ("multiple" for several, "fragment" if only
    fragments select them); call it only for a validated document, whose fields exist."""
    document = context.graphql_document
    wanted = context.operation_name
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)
                  and (wanted is None or (d.name is not None and d.name.value == wanted))
                  ] if document is not None else []
    if len(operations) != 1:
        return "invalid"
    names = {node.name.value for node in operations[0].selection_set.selections
             if isinstance(node, FieldNode)}
    if len(names) > 1:
        return "multiple"
    return names.pop() if names else "fragment"
