from __future__ import annotations

import enum

import strawberry

from domain import model

AvailabilityStatus = strawberry.enum(
    model.AvailabilityStatus,
    description=(
        "Customer-facing availability of a SKU: OUT_OF_STOCK when available = 0, LOW_STOCK "
        "when 0 < available <= lowStockThreshold, else IN_STOCK."
    ),
)
LocationKind = strawberry.enum(model.LocationKind)
StockEventKind = strawberry.enum(
    model.StockEventKind, description="Why stock changed. Recorded on every ledger entry."
)
AdjustmentReason = strawberry.enum(model.AdjustmentReason)
ReservationStatus = strawberry.enum(model.ReservationStatus)


@strawberry.enum
class UserErrorCode(enum.Enum):
    NOT_FOUND = "NOT_FOUND"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    RESERVATION_NOT_ACTIVE = "RESERVATION_NOT_ACTIVE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INVALID_INPUT = "INVALID_INPUT"
