"""The schema: Query and Mutation (schema.query, schema.mutation), Subscription and the
extensions, put together by build_schema (called by server and cli)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import strawberry
from strawberry.extensions import SchemaExtension, ValidationCache

from compat.graphql_core import patch_gather
from compat.strawberry import cache_extension_hooks
from ops.extension import OperationMetrics
from ops.graphql_span import tracing_extensions
from resolvers.permissions import CanRead
from resolvers.routing import ReadRouting
from schema import compiled_holds
from schema import subscriptions as bound
from schema.errors import InventorySchema, MaskUnexpectedErrors
from schema.events import StockEvent
from schema.execution import execution_context
from schema.mutation import Mutation
from schema.query import Query
from schema.types import Sku


@strawberry.type
class Subscription:
    stock_events: StockEvent = strawberry.subscription(  # type: ignore[assignment]
        permission_classes=[CanRead],
        resolver=bound.stock_events,
        description="Every change of one SKU, in sequence order, exactly once. Without "
        "afterSequence: first a SNAPSHOT event, then every later change. With afterSequence: "
        "N, every event with sequence > N from the ledger, then live events, with no gap and "
        "no duplicate across the switch (no SNAPSHOT in this case).",
    )
    availability: Sku = strawberry.subscription(  # type: ignore[assignment]
        permission_classes=[CanRead],
        resolver=bound.availability,
        description="What a product page shows: the current figures first, then a new value "
        "only when `available` or `status` changes, at most once per throttleMs (the latest "
        "value wins; the final value is never dropped).",
    )


class CachedValidation(ValidationCache):
    """Strawberry's validation cache, for documents no earlier extension has judged (a limit
    refused it, or resolvers.limits.DocumentCache already has its validation)."""

    def on_validate(self) -> Iterator[None]:
        if self.execution_context.pre_execution_errors is not None:
            yield
            return
        yield from super().on_validate()


def build_schema(
    extensions: Sequence[Callable[[], SchemaExtension]] = (), *, compiled_reads: bool = False,
    holds: bool = False,
) -> strawberry.Schema:
    cache_extension_hooks()
    patch_gather()  # no coroutine left unawaited when a failing field cancels its siblings
    schema = InventorySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        execution_context_class=execution_context(reads=compiled_reads, holds=holds),
        extensions=[
            # the limits first: they set the parser's token limit, refuse oversized documents
            # and cache parsing and validation (resolvers.limits.DocumentCache); without them
            # (export-schema, some tests) Strawberry's validation cache stands in
            *(extensions or [lambda: CachedValidation(maxsize=256)]),
            MaskUnexpectedErrors,
            ReadRouting,
            OperationMetrics,
            *tracing_extensions(),
        ],
    )
    if holds:
        compiled_holds.install(schema)
    return schema
