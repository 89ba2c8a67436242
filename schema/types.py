"""The GraphQL object types, each built from a domain value with from_domain() (used by
schema.query, schema.payloads, schema.subscriptions and schema.root)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError

from domain import model
from domain.rules import text_fault
from resolvers.context import Info
from schema import sku_fields
from schema.enums import AvailabilityStatus, LocationKind, ReservationStatus


@strawberry.type
class Location:
    code: str
    name: str
    kind: LocationKind

    @classmethod
    def from_domain(cls, location: model.Location) -> Location:
        return cls(code=location.code, name=location.name, kind=location.kind)


async def _location(info: Info, location_id: int) -> Location:
    found = await info.context.loaders.location.load(location_id)
    return Location.from_domain(found)


@strawberry.type(
    description="Stock of one SKU at one location. "
    "available = max(0, onHand - reserved - safetyStock)."
)
class StockLevel:
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    version: int = strawberry.field(
        description="Increases by exactly 1 on every change of this level; "
        "used for compare-and-set."
    )
    updated_at: datetime
    location_id: strawberry.Private[int]
    incoming: int = strawberry.field(
        default=0,
        description="(v2) Expected here and not yet received: open incoming stock, including "
        "transfers on their way here. Not part of available.",
    )

    @strawberry.field
    async def location(self, info: Info) -> Location:
        return await _location(info, self.location_id)

    @classmethod
    def from_domain(cls, level: model.StockLevel) -> StockLevel:
        return cls(
            sku=level.sku,
            on_hand=level.on_hand,
            reserved=level.reserved,
            safety_stock=level.safety_stock,
            available=level.available,
            version=level.version,
            updated_at=level.updated_at,
            location_id=level.location_id,
            incoming=level.incoming,
        )


async def _components(root: Sku, info: Info) -> list[BundleComponent]:
    if not root.is_bundle:
        return []
    return [BundleComponent(sku=Sku.from_domain(sku), quantity=quantity)
            for sku, quantity in await sku_fields.components(info, root.id_)]


@strawberry.type
class Sku:
    code: str
    name: str
    low_stock_threshold: int = strawberry.field(description="Default 5.")
    on_hand: int = strawberry.field(
        description="Sums over all locations; `available` is the sum of the levels' "
        "(clamped) available."
    )
    reserved: int
    available: int = strawberry.field(
        resolver=sku_fields.available,
        description="(v2) With channel: summed over that channel's locations only.",
    )
    status: AvailabilityStatus = strawberry.field(
        resolver=sku_fields.status,
        description="(v2) With channel: the status of the channel's available.",
    )
    sequence: int = strawberry.field(
        description="Sequence of the latest StockEvent of this SKU (0 if none)."
    )
    id_: strawberry.Private[int]
    available_: strawberry.Private[int]
    status_: strawberry.Private[AvailabilityStatus]

    @strawberry.field
    async def levels(self, info: Info, location: str | None = None) -> list[StockLevel]:
        levels = await info.context.loaders.levels_of(self.id_, self.is_bundle)
        if location is not None:
            if (fault := text_fault(location)) is not None:
                raise GraphQLError(f"`location` {fault}", extensions={"code": "BAD_USER_INPUT"})
            wanted = await info.context.loaders.location_by_code.load(location)
            levels = [lv for lv in levels if wanted is not None and lv.location_id == wanted.id]
        return [StockLevel.from_domain(level) for level in levels]

    incoming: int = strawberry.field(
        description="(v2) Open incoming stock over all locations (sum of the levels' incoming).",
        resolver=sku_fields.incoming,
    )
    next_restock_at: datetime | None = strawberry.field(
        description="(v2) Earliest expectedAt among open incoming stock, null if none.",
        resolver=sku_fields.next_restock_at,
    )
    is_bundle: bool = strawberry.field(
        default=False,
        description="(v2) A bundle (kit) holds no stock of its own: at each location its "
        "available is the\nminimum over its components of floor(component available / component "
        "quantity), and its\n`available` is the sum of that over locations (or over a channel's "
        "locations). Its `levels`\nare derived the same way per location (onHand and available "
        "by that minimum, reserved and\nsafetyStock 0, version 0). Its `sequence` is 0: the "
        "components carry the ledger.",
    )

    components: list[BundleComponent] = strawberry.field(
        resolver=_components,
        description="(v2) Empty unless isBundle.",
    )

    available_to_promise: int = strawberry.field(
        description="(v2) What can be promised for delivery by `at`: available now plus the "
        "open incoming\nquantity expected at or before `at` (with channel: at that channel's "
        "locations only).\nFor a bundle, computed per location from its components' figures, "
        "as available is.",
        resolver=sku_fields.available_to_promise,
    )

    @classmethod
    def from_domain(cls, sku: model.Sku) -> Sku:
        return cls(
            code=sku.code,
            name=sku.name,
            low_stock_threshold=sku.low_stock_threshold,
            on_hand=sku.on_hand,
            reserved=sku.reserved,
            available_=sku.available,
            status_=sku.status,
            sequence=sku.sequence,
            id_=sku.id,
            is_bundle=sku.is_bundle,
        )


@strawberry.type(
    description="(v2) One component of a bundle: `quantity` units of `sku` go into one bundle."
)
class BundleComponent:
    sku: Sku
    quantity: int


async def _reservation_channel(root: Reservation, info: Info) -> Channel | None:
    if root.channel_id is None:
        return None
    found = await info.context.loaders.channel.load(root.channel_id)
    return Channel.from_domain(found) if found is not None else None


@strawberry.type(description="(v2) What a bundle hold holds of one component.")
class ReservationComponent:
    sku: str
    quantity: int


@strawberry.type
class Reservation:
    id: strawberry.ID
    sku: str
    quantity: int
    status: ReservationStatus
    expires_at: datetime
    reference: str | None
    created_at: datetime
    location_id: strawberry.Private[int]
    channel_id: strawberry.Private[int | None]

    @strawberry.field
    async def location(self, info: Info) -> Location:
        return await _location(info, self.location_id)
    channel: Channel | None = strawberry.field(
        resolver=_reservation_channel,
        description="(v2) The channel it was taken through, if any.",
    )
    components: list[ReservationComponent] = strawberry.field(
        default_factory=list,
        description="(v2) For a bundle hold: what it holds of each component at `location`\n"
        "(component quantity x `quantity`); empty for a plain SKU.",
    )

    @classmethod
    def from_domain(cls, r: model.Reservation) -> Reservation:
        return cls(
            id=strawberry.ID(r.id),
            sku=r.sku,
            quantity=r.quantity,
            status=r.status,
            expires_at=r.expires_at,
            reference=r.reference,
            created_at=r.created_at,
            location_id=r.location_id,
            channel_id=r.channel_id,
            components=[ReservationComponent(sku=c.sku, quantity=c.quantity)
                        for c in r.components],
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = strawberry.field(description=(
        "(v2) Relay: true when `after` was given and something precedes the first edge."))
    start_cursor: str | None = strawberry.field(description=(
        "(v2) Cursor of the first edge, null when there are no edges."))


@strawberry.type
class SkuEdge:
    cursor: str
    node: Sku


@strawberry.type
class SkuConnection:
    edges: list[SkuEdge]
    page_info: PageInfo



@strawberry.type(
    description="(v2) A sales channel (web shop, app, marketplace, store) and the locations it "
    "may sell\nfrom, highest sourcing priority first. A SKU's availability through a channel "
    "counts only\nthose locations; a hold through a channel is taken only at them."
)
class Channel:
    code: str
    name: str
    location_ids: strawberry.Private[tuple[int, ...]]

    @strawberry.field
    async def locations(self, info: Info) -> list[Location]:
        found = await info.context.loaders.location.load_many(list(self.location_ids))
        return [Location.from_domain(location) for location in found]

    @classmethod
    def from_domain(cls, channel: model.Channel) -> Channel:
        return cls(code=channel.code, name=channel.name, location_ids=channel.location_ids)
