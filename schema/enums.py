"""The GraphQL enums: the domain's, registered with Strawberry, and UserErrorCode (used by
schema.types, schema.inputs and schema.payloads)."""

from __future__ import annotations

import enum

import strawberry

from compat.strawberry import describe_enum_values
from domain import model

# The domain's enums, registered as GraphQL enums (strawberry.enum marks the class itself).
strawberry.enum(
    model.AvailabilityStatus,
    description=(
        "Customer-facing availability of a SKU: OUT_OF_STOCK when available = 0, LOW_STOCK "
        "when 0 < available <= lowStockThreshold, else IN_STOCK."
    ),
)
strawberry.enum(model.LocationKind)
strawberry.enum(
    model.StockEventKind, description="Why stock changed. Recorded on every ledger entry."
)
describe_enum_values(model.StockEventKind, {
    "INCOMING": "(v2) Expected stock announced (incomingDelta > 0) or cancelled "
    "(incomingDelta < 0); onHand unchanged.",
    "RECEIVED": "(v2) Expected stock arrived: onHandDelta = +received, incomingDelta = "
    "-received.",
    "SHIPPED": "(v2) A transfer left this location: onHandDelta = -quantity (reason TRANSFER).",
    "MOVED": "(v2) A hold left this location for another one that can cover it (reservedDelta "
    "< 0); a RESERVED event with the same reservationId follows at the new location.",
    "SHORTED": "(v2) A hold that no location can cover any more, after a recorded sale took "
    "its stock (reservedDelta < 0); the reservation becomes SHORTED.",
})
strawberry.enum(model.AdjustmentReason)
strawberry.enum(model.ReservationStatus)
describe_enum_values(model.ReservationStatus, {
    "SHORTED": "(v2) The stock it held was sold by a store that was offline and no other "
    "location could cover it; it holds nothing and cannot be committed.",
})

AvailabilityStatus = model.AvailabilityStatus
LocationKind = model.LocationKind
StockEventKind = model.StockEventKind
AdjustmentReason = model.AdjustmentReason
ReservationStatus = model.ReservationStatus


@strawberry.enum
class UserErrorCode(enum.Enum):
    NOT_FOUND = "NOT_FOUND"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    RESERVATION_NOT_ACTIVE = "RESERVATION_NOT_ACTIVE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_STATE = strawberry.enum_value(
        "INVALID_STATE",
        description="(v2) The object exists but its state forbids this (e.g. receiving a "
        "cancelled transfer).",
    )
