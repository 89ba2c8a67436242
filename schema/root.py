from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import strawberry
from strawberry.extensions import SchemaExtension, ValidationCache

from ops.extension import OperationMetrics
from ops.tracing import tracing_extensions
from resolvers import catalog, queries, reservations, stock
from resolvers.permissions import CanRead, CanReserve, CanWrite, IsAdmin
from schema import subscriptions as bound
from schema.errors import MaskUnexpectedErrors
from schema.execution import PerEventMemoExecutionContext
from schema.payloads import (
    AdjustStockPayload,
    CommitReservationPayload,
    ExtendReservationPayload,
    ReleaseReservationPayload,
    ReserveLinesPayload,
    ReservePayload,
    SetStockPayload,
    UpsertLocationPayload,
    UpsertSkuPayload,
)
from schema.types import Location, Reservation, Sku, SkuConnection, StockEvent


@strawberry.type
class Query:
    sku: Sku | None = strawberry.field(permission_classes=[CanRead], resolver=queries.sku)
    skus: SkuConnection = strawberry.field(
        permission_classes=[CanRead],
        resolver=queries.skus,
        description="Relay-style cursor pagination, ordered by code.",
    )
    skus_by_code: list[Sku] = strawberry.field(
        permission_classes=[CanRead],
        resolver=queries.skus_by_code,
        description="Batch lookup for listing pages, in the order of `codes`; unknown codes "
        "are left out.",
    )
    location: Location | None = strawberry.field(
        permission_classes=[CanRead], resolver=queries.location
    )
    locations: list[Location] = strawberry.field(
        permission_classes=[CanRead], resolver=queries.locations
    )
    reservation: Reservation | None = strawberry.field(
        permission_classes=[CanRead], resolver=queries.reservation
    )
    stock_events: list[StockEvent] = strawberry.field(
        permission_classes=[CanRead],
        resolver=queries.stock_events,
        description="The ledger of one SKU, oldest first, from sequence afterSequence + 1.",
    )


@strawberry.type
class Mutation:
    upsert_sku: UpsertSkuPayload = strawberry.mutation(
        permission_classes=[IsAdmin], resolver=catalog.upsert_sku
    )
    upsert_location: UpsertLocationPayload = strawberry.mutation(
        permission_classes=[IsAdmin], resolver=catalog.upsert_location
    )
    reserve: ReservePayload = strawberry.mutation(
        permission_classes=[CanReserve],
        resolver=reservations.reserve,
        description="Atomically holds stock: succeeds only if available >= quantity at that "
        "moment. Never oversells.",
    )
    reserve_lines: ReserveLinesPayload = strawberry.mutation(
        permission_classes=[CanReserve],
        resolver=reservations.reserve_lines,
        description="All-or-nothing hold of several lines, deadlock-free under concurrency "
        "(consistent lock order).",
    )
    extend_reservation: ExtendReservationPayload = strawberry.mutation(
        permission_classes=[CanReserve],
        resolver=reservations.extend_reservation,
        description="Moves an ACTIVE reservation's expiry; RESERVATION_NOT_ACTIVE otherwise.",
    )
    commit_reservation: CommitReservationPayload = strawberry.mutation(
        permission_classes=[CanReserve],
        resolver=reservations.commit_reservation,
        description="Turns an ACTIVE reservation into a sale: onHand and reserved both drop "
        "by its quantity.",
    )
    release_reservation: ReleaseReservationPayload = strawberry.mutation(
        permission_classes=[CanReserve], resolver=reservations.release_reservation
    )
    adjust_stock: AdjustStockPayload = strawberry.mutation(
        permission_classes=[CanWrite],
        resolver=stock.adjust_stock,
        description="onHand may not go below reserved + 0 through SALE/DAMAGE "
        "(INSUFFICIENT_STOCK).",
    )
    set_stock: SetStockPayload = strawberry.mutation(
        permission_classes=[CanWrite], resolver=stock.set_stock
    )


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
    extensions: Sequence[Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        execution_context_class=PerEventMemoExecutionContext,
        extensions=[
            # the limits first: they set the parser's token limit, refuse oversized documents
            # and cache parsing and validation (resolvers.limits.DocumentCache); without them
            # (export-schema, some tests) Strawberry's validation cache stands in
            *(extensions or [lambda: CachedValidation(maxsize=256)]),
            MaskUnexpectedErrors,
            OperationMetrics,
            *tracing_extensions(),
        ],
    )
