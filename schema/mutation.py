"""The Mutation type: each field hands its input's values to its resolver and builds the
payload from the Outcome it returns (used by schema.root)."""

from __future__ import annotations

import strawberry

from resolvers import catalog, channels, reservations, stock
from resolvers import webhooks as webhook_resolvers
from resolvers.context import Info
from resolvers.permissions import CanReserve, CanWrite, IsAdmin
from schema import bulk as bulk_schema
from schema import bundles as bundle_schema
from schema import incoming as incoming_schema
from schema import sales as sales_schema
from schema import transfers as transfer_schema
from schema.inputs import (
    AdjustStockInput,
    CommitReservationInput,
    ExtendReservationInput,
    ReleaseReservationInput,
    ReserveInput,
    ReserveLinesInput,
    SetStockInput,
    UpsertChannelInput,
    UpsertLocationInput,
    UpsertSkuInput,
)
from schema.payloads import (
    AdjustStockPayload,
    CommitReservationPayload,
    ExtendReservationPayload,
    ReleaseReservationPayload,
    ReserveLinesPayload,
    ReservePayload,
    SetStockPayload,
    UpsertChannelPayload,
    UpsertLocationPayload,
    UpsertSkuPayload,
)
from schema.webhooks import (
    CreateWebhookEndpointInput,
    CreateWebhookEndpointPayload,
    ReplayWebhookEventsInput,
    UpdateWebhookEndpointInput,
    WebhookEndpointPayload,
    WebhookQueuedPayload,
    given,
)


async def _upsert_sku(info: Info, input: UpsertSkuInput) -> UpsertSkuPayload:
    return UpsertSkuPayload.from_outcome(await catalog.upsert_sku(
        info, code=input.code, name=input.name,
        low_stock_threshold=input.low_stock_threshold,
    ))


async def _upsert_location(info: Info, input: UpsertLocationInput) -> UpsertLocationPayload:
    return UpsertLocationPayload.from_outcome(await catalog.upsert_location(
        info, code=input.code, name=input.name, kind=input.kind
    ))


async def _reserve(info: Info, input: ReserveInput) -> ReservePayload:
    return ReservePayload.from_outcome(await reservations.reserve(
        info, sku=input.sku, location=input.location, quantity=input.quantity,
        ttl_seconds=input.ttl_seconds, reference=input.reference,
        idempotency_key=input.idempotency_key, channel=given(input.channel),
        allow_split=bool(input.allow_split),
    ))


async def _reserve_lines(info: Info, input: ReserveLinesInput) -> ReserveLinesPayload:
    return ReserveLinesPayload.from_outcome(await reservations.reserve_lines(
        info, lines=[(ln.sku, ln.location, ln.quantity) for ln in input.lines],
        ttl_seconds=input.ttl_seconds, reference=input.reference,
        idempotency_key=input.idempotency_key, channel=given(input.channel),
    ))


async def _extend_reservation(
    info: Info, input: ExtendReservationInput
) -> ExtendReservationPayload:
    return ExtendReservationPayload.from_outcome(await reservations.extend_reservation(
        info, reservation_id=input.reservation_id, ttl_seconds=input.ttl_seconds
    ))


async def _commit_reservation(
    info: Info, input: CommitReservationInput
) -> CommitReservationPayload:
    return CommitReservationPayload.from_outcome(await reservations.commit_reservation(
        info, reservation_id=input.reservation_id, reference=input.reference,
        idempotency_key=input.idempotency_key,
    ))


async def _release_reservation(
    info: Info, input: ReleaseReservationInput
) -> ReleaseReservationPayload:
    return ReleaseReservationPayload.from_outcome(await reservations.release_reservation(
        info, reservation_id=input.reservation_id
    ))


async def _adjust_stock(info: Info, input: AdjustStockInput) -> AdjustStockPayload:
    return AdjustStockPayload.from_outcome(await stock.adjust_stock(
        info, sku=input.sku, location=input.location, delta=input.delta,
        reason=input.reason, reference=input.reference,
        idempotency_key=input.idempotency_key,
    ))


async def _set_stock(info: Info, input: SetStockInput) -> SetStockPayload:
    return SetStockPayload.from_outcome(await stock.set_stock(
        info, sku=input.sku, location=input.location, on_hand=input.on_hand,
        safety_stock=input.safety_stock, expected_version=input.expected_version,
        reference=input.reference, idempotency_key=input.idempotency_key,
    ))


async def _create_webhook_endpoint(
    info: Info, input: CreateWebhookEndpointInput
) -> CreateWebhookEndpointPayload:
    return CreateWebhookEndpointPayload.from_outcome(await webhook_resolvers.create_endpoint(
        info, url=input.url, event_types=given(input.event_types), skus=given(input.skus),
    ))


async def _update_webhook_endpoint(
    info: Info, input: UpdateWebhookEndpointInput
) -> WebhookEndpointPayload:
    return WebhookEndpointPayload.from_outcome(await webhook_resolvers.update_endpoint(
        info, id=input.id, url=given(input.url), event_types=given(input.event_types),
        skus=given(input.skus), enabled=given(input.enabled),
    ))


async def _delete_webhook_endpoint(info: Info, id: strawberry.ID) -> WebhookEndpointPayload:
    return WebhookEndpointPayload.from_outcome(
        await webhook_resolvers.delete_endpoint(info, id=id), under_input=False
    )


async def _rotate_webhook_secret(
    info: Info, id: strawberry.ID
) -> CreateWebhookEndpointPayload:
    return CreateWebhookEndpointPayload.from_outcome(
        await webhook_resolvers.rotate_secret(info, id=id), under_input=False
    )


async def _replay_webhook_events(
    info: Info, input: ReplayWebhookEventsInput
) -> WebhookQueuedPayload:
    return WebhookQueuedPayload.from_outcome(await webhook_resolvers.replay_events(
        info, endpoint_id=input.endpoint_id, sku=input.sku, after_sequence=input.after_sequence,
    ))


async def _retry_dead_deliveries(info: Info, endpoint_id: strawberry.ID) -> WebhookQueuedPayload:
    return WebhookQueuedPayload.from_outcome(
        await webhook_resolvers.retry_dead(info, endpoint_id=endpoint_id), under_input=False
    )


async def _upsert_channel(info: Info, input: UpsertChannelInput) -> UpsertChannelPayload:
    return UpsertChannelPayload.from_outcome(await channels.upsert_channel(
        info, code=input.code, name=input.name, locations=input.locations
    ))


@strawberry.type
class Mutation:
    upsert_sku: UpsertSkuPayload = strawberry.mutation(
        permission_classes=[IsAdmin],
        resolver=_upsert_sku,
    )
    upsert_location: UpsertLocationPayload = strawberry.mutation(
        permission_classes=[IsAdmin],
        resolver=_upsert_location,
    )
    reserve: ReservePayload = strawberry.mutation(
        permission_classes=[CanReserve],
        description="Atomically holds stock: succeeds only if available >= quantity at that "
        "moment. Never oversells.",
        resolver=_reserve,
    )
    reserve_lines: ReserveLinesPayload = strawberry.mutation(
        permission_classes=[CanReserve],
        description="All-or-nothing hold of several lines, deadlock-free under concurrency "
        "(consistent lock order).",
        resolver=_reserve_lines,
    )
    extend_reservation: ExtendReservationPayload = strawberry.mutation(
        permission_classes=[CanReserve],
        description="Moves an ACTIVE reservation's expiry; RESERVATION_NOT_ACTIVE otherwise.",
        resolver=_extend_reservation,
    )
    commit_reservation: CommitReservationPayload = strawberry.mutation(
        permission_classes=[CanReserve],
        description="Turns an ACTIVE reservation into a sale: onHand and reserved both drop "
        "by its quantity.",
        resolver=_commit_reservation,
    )
    release_reservation: ReleaseReservationPayload = strawberry.mutation(
        permission_classes=[CanReserve],
        resolver=_release_reservation,
    )
    adjust_stock: AdjustStockPayload = strawberry.mutation(
        permission_classes=[CanWrite],
        description="onHand may not go below reserved + 0 through SALE/DAMAGE "
        "(INSUFFICIENT_STOCK).",
        resolver=_adjust_stock,
    )
    set_stock: SetStockPayload = strawberry.mutation(
        permission_classes=[CanWrite],
        resolver=_set_stock,
    )
    bulk_adjust_stock: bulk_schema.BulkAdjustStockPayload = strawberry.mutation(
        permission_classes=[CanWrite], description="(v2)", resolver=bulk_schema.bulk_adjust_stock,
    )
    bulk_set_stock: bulk_schema.BulkSetStockPayload = strawberry.mutation(
        permission_classes=[CanWrite], description="(v2)", resolver=bulk_schema.bulk_set_stock,
    )
    create_webhook_endpoint: CreateWebhookEndpointPayload = strawberry.mutation(
        permission_classes=[IsAdmin], description="(v2) Admin only.",
        resolver=_create_webhook_endpoint,
    )
    update_webhook_endpoint: WebhookEndpointPayload = strawberry.mutation(
        permission_classes=[IsAdmin], description="(v2) Admin only.",
        resolver=_update_webhook_endpoint,
    )
    delete_webhook_endpoint: WebhookEndpointPayload = strawberry.mutation(
        permission_classes=[IsAdmin],
        description="(v2) Admin only. Deliveries stop; the history goes with it.",
        resolver=_delete_webhook_endpoint,
    )
    rotate_webhook_secret: CreateWebhookEndpointPayload = strawberry.mutation(
        permission_classes=[IsAdmin],
        description="(v2) Admin only. A new secret; the old one keeps signing beside it for "
        "WEBHOOK_SECRET_OVERLAP (default 24 hours).",
        resolver=_rotate_webhook_secret,
    )
    replay_webhook_events: WebhookQueuedPayload = strawberry.mutation(
        permission_classes=[IsAdmin], description="(v2) Admin only.",
        resolver=_replay_webhook_events,
    )
    retry_dead_deliveries: WebhookQueuedPayload = strawberry.mutation(
        permission_classes=[IsAdmin],
        description="(v2) Admin only. Every DEAD delivery of the endpoint becomes PENDING "
        "again, in order.",
        resolver=_retry_dead_deliveries,
    )
    upsert_channel: UpsertChannelPayload = strawberry.mutation(
        permission_classes=[IsAdmin], description="(v2)", resolver=_upsert_channel,
    )
    upsert_bundle: UpsertSkuPayload = strawberry.mutation(
        permission_classes=[IsAdmin], description=bundle_schema.UPSERT_DESCRIPTION,
        resolver=bundle_schema.upsert_bundle,
    )
    expect_incoming: incoming_schema.IncomingPayload = strawberry.mutation(
        permission_classes=[CanWrite], description=incoming_schema.EXPECT_DESCRIPTION,
        resolver=incoming_schema.expect_incoming,
    )
    receive_incoming: incoming_schema.IncomingPayload = strawberry.mutation(
        permission_classes=[CanWrite], description=incoming_schema.RECEIVE_DESCRIPTION,
        resolver=incoming_schema.receive_incoming,
    )
    cancel_incoming: incoming_schema.IncomingPayload = strawberry.mutation(
        permission_classes=[CanWrite], description=incoming_schema.CANCEL_DESCRIPTION,
        resolver=incoming_schema.cancel_incoming,
    )
    ship_transfer: transfer_schema.TransferPayload = strawberry.mutation(
        permission_classes=[CanWrite], description=transfer_schema.SHIP_DESCRIPTION,
        resolver=transfer_schema.ship_transfer,
    )
    receive_transfer: transfer_schema.TransferPayload = strawberry.mutation(
        permission_classes=[CanWrite], description=transfer_schema.RECEIVE_DESCRIPTION,
        resolver=transfer_schema.receive_transfer,
    )
    cancel_transfer: transfer_schema.TransferPayload = strawberry.mutation(
        permission_classes=[CanWrite], description=transfer_schema.CANCEL_DESCRIPTION,
        resolver=transfer_schema.cancel_transfer,
    )
    record_sales: sales_schema.RecordSalesPayload = strawberry.mutation(
        permission_classes=[CanWrite], description=sales_schema.RECORD_DESCRIPTION,
        resolver=sales_schema.record_sales,
    )
