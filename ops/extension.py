"""Per GraphQL operation: a metric sample and one structured log line (never variables); a
schema extension installed by schema.root."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from ops.metrics import REQUEST_SECONDS, REQUESTS

log = logging.getLogger("inventory.requests")


class OperationMetrics(SchemaExtension):
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
        name = context.operation_name or _first_field(context) or "anonymous"
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


def _first_field(context: object) -> str | None:
    document = getattr(context, "graphql_document", None)
    try:
        selection = document.definitions[0].selection_set.selections[0]  # type: ignore[union-attr]
        return str(selection.name.value)
    except (AttributeError, IndexError):
        return None
