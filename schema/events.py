"""The StockEvent type: one ledger entry as queries, subscriptions and partners see it (used by
schema.query, schema.subscriptions and schema.root)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import model
from resolvers.context import Info
from schema import types
from schema.enums import AdjustmentReason, AvailabilityStatus, StockEventKind
from schema.types import Location, StockLevel


@strawberry.type(
    description="One change of one SKU's stock, as recorded in the append-only ledger. "
    "`sequence` is per SKU: it starts at 1 and increases by exactly 1 with every committed "
    "change of that SKU, at any location, with no gaps."
)
class StockEvent:
    sku: str
    sequence: int
    kind: StockEventKind
    on_hand_delta: int
    reserved_delta: int
    level: StockLevel | None = strawberry.field(
        description="The level at `location` after this change (null for SNAPSHOT)."
    )
    available: int = strawberry.field(description="SKU-wide figures after this change.")
    status: AvailabilityStatus
    reason: AdjustmentReason | None
    reservation_id: strawberry.ID | None
    reference: str | None
    occurred_at: datetime
    location_id: strawberry.Private[int | None]
    incoming_delta: int = strawberry.field(
        default=0, description="(v2) Change of the level's incoming (0 for most kinds)."
    )
    incoming_id: strawberry.ID | None = strawberry.field(
        default=None, description="(v2) Set on INCOMING/RECEIVED events."
    )
    transfer_id: strawberry.ID | None = strawberry.field(
        default=None, description="(v2) Set on the events a transfer causes."
    )
    happened_at: datetime | None = strawberry.field(
        default=None, description="(v2) When the change happened in the world, if the caller "
        "said so (recordSales:\nthe sale's time at the till); occurredAt is when it was "
        "recorded."
    )

    @strawberry.field
    async def location(self, info: Info) -> Location | None:
        if self.location_id is None:
            return None
        return await types._location(info, self.location_id)  # one seam: tests count it

    @classmethod
    def from_domain(cls, e: model.StockEvent) -> StockEvent:
        return cls(
            sku=e.sku,
            sequence=e.sequence,
            kind=e.kind,
            on_hand_delta=e.on_hand_delta,
            reserved_delta=e.reserved_delta,
            level=StockLevel.from_domain(e.level) if e.level else None,
            available=e.available,
            status=e.status,
            reason=e.reason,
            reservation_id=strawberry.ID(e.reservation_id) if e.reservation_id else None,
            reference=e.reference,
            occurred_at=e.occurred_at,
            location_id=e.location_id,
            incoming_delta=e.incoming_delta,
            incoming_id=strawberry.ID(e.incoming_id) if e.incoming_id else None,
            transfer_id=strawberry.ID(e.transfer_id) if e.transfer_id else None,
            happened_at=e.happened_at,
        )
