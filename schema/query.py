"""The Query type: each field calls its resolver in resolvers.queries and converts the domain
values it returns (used by schema.root)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain.ownership import shown_to
from resolvers import channels, queries
from resolvers import webhooks as webhook_resolvers
from resolvers.context import Info
from resolvers.permissions import CanRead, IsAdmin
from schema import incoming as incoming_schema
from schema import transfers as transfer_schema
from schema.events import StockEvent
from schema.inputs import SkuFilter
from schema.types import (
    Channel,
    Location,
    PageInfo,
    Reservation,
    Sku,
    SkuConnection,
    SkuEdge,
)
from schema.webhooks import WebhookEndpoint

CONSISTENT = strawberry.argument(
    description="(v2) true: read from the primary database, seeing every committed change "
    "(for read-your-writes right after a mutation made through another server process). false "
    "(default): a sku read may be served by the process's read model, which shows every change "
    "made through that process and others' once its feed delivered them (milliseconds), or "
    "by a read replica, at most READ_REPLICA_MAX_LAG_MS behind. Applies to the whole query."
)


async def _sku(
    info: Info, code: str, consistent: Annotated[bool | None, CONSISTENT] = False
) -> Sku | None:
    # `consistent` is read before execution by resolvers/routing.py, which picks the pool
    found = await queries.sku(info, code)
    return Sku.from_domain(found) if found else None


async def _skus(
    info: Info, first: int | None = 50, after: str | None = None,
    filter: SkuFilter | None = None,
) -> SkuConnection:
    page = await queries.skus(
        info, first=first, after=after,
        search=filter.search if filter else None,
        status=filter.status if filter else None,
        location=filter.location if filter else None,
    )
    edges = [SkuEdge(cursor=queries.encode_cursor(s.code), node=Sku.from_domain(s))
             for s in page.skus]
    return SkuConnection(edges=edges, page_info=PageInfo(
        has_next_page=page.has_next_page, end_cursor=edges[-1].cursor if edges else None,
        has_previous_page=page.has_previous_page,
        start_cursor=edges[0].cursor if edges else None,
    ))


async def _skus_by_code(info: Info, codes: list[str]) -> list[Sku]:
    return [Sku.from_domain(s) for s in await queries.skus_by_code(info, codes)]


async def _location(info: Info, code: str) -> Location | None:
    found = await queries.location(info, code)
    return Location.from_domain(found) if found else None


async def _locations(info: Info) -> list[Location]:
    return [Location.from_domain(loc) for loc in await queries.locations(info)]


async def _reservation(
    info: Info, id: strawberry.ID, consistent: Annotated[bool | None, CONSISTENT] = False
) -> Reservation | None:
    found = await queries.reservation(info, id)
    return Reservation.from_domain(found) if found else None


async def _stock_events(
    info: Info, sku: str, after_sequence: int | None = 0, first: int | None = 100
) -> list[StockEvent]:
    events = await queries.stock_events(info, sku, after_sequence, first)
    viewer = info.context.principal
    return [StockEvent.from_domain(shown_to(e, viewer)) for e in events]


async def _webhook_endpoints(info: Info) -> list[WebhookEndpoint]:
    return [WebhookEndpoint.from_domain(e)
            for e in await webhook_resolvers.webhook_endpoints(info)]


async def _webhook_endpoint(info: Info, id: strawberry.ID) -> WebhookEndpoint | None:
    found = await webhook_resolvers.webhook_endpoint(info, id)
    return WebhookEndpoint.from_domain(found) if found else None


async def _channel(info: Info, code: str) -> Channel | None:
    found = await channels.channel(info, code)
    return Channel.from_domain(found) if found else None


async def _channels(info: Info) -> list[Channel]:
    return [Channel.from_domain(c) for c in await channels.every_channel(info)]


@strawberry.type
class Query:
    sku: Sku | None = strawberry.field(permission_classes=[CanRead], resolver=_sku)
    skus: SkuConnection = strawberry.field(
        permission_classes=[CanRead],
        description="Relay-style cursor pagination, ordered by code.",
        resolver=_skus,
    )
    skus_by_code: list[Sku] = strawberry.field(
        permission_classes=[CanRead],
        description="Batch lookup for listing pages, in the order of `codes`; unknown codes "
        "are left out.",
        resolver=_skus_by_code,
    )
    location: Location | None = strawberry.field(permission_classes=[CanRead], resolver=_location)
    locations: list[Location] = strawberry.field(permission_classes=[CanRead], resolver=_locations)
    reservation: Reservation | None = strawberry.field(
        permission_classes=[CanRead],
        resolver=_reservation,
    )
    stock_events: list[StockEvent] = strawberry.field(
        permission_classes=[CanRead],
        description="The ledger of one SKU, oldest first, from sequence afterSequence + 1.",
        resolver=_stock_events,
    )
    webhook_endpoints: list[WebhookEndpoint] = strawberry.field(
        permission_classes=[IsAdmin], description="(v2) Admin only.",
        resolver=_webhook_endpoints,
    )
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        permission_classes=[IsAdmin], description="(v2) Admin only.",
        resolver=_webhook_endpoint,
    )
    channel: Channel | None = strawberry.field(
        permission_classes=[CanRead], description="(v2)", resolver=_channel
    )
    channels: list[Channel] = strawberry.field(
        permission_classes=[CanRead], description="(v2)", resolver=_channels
    )
    incoming: list[incoming_schema.Incoming] = strawberry.field(
        permission_classes=[CanRead], description=incoming_schema.QUERY_DESCRIPTION,
        resolver=incoming_schema.incoming,
    )
    transfer: transfer_schema.Transfer | None = strawberry.field(
        permission_classes=[CanRead], description=transfer_schema.TRANSFER_DESCRIPTION,
        resolver=transfer_schema.transfer,
    )
    transfers: list[transfer_schema.Transfer] = strawberry.field(
        permission_classes=[CanRead], description=transfer_schema.QUERY_DESCRIPTION,
        resolver=transfer_schema.transfers,
    )
