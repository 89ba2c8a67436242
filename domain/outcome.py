"""What a use case returns: its result, or the business error that changed nothing (made by
store/ and service/, read by resolvers/ and schema/payloads.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.errors import StockError
from domain.model import (
    Channel,
    Incoming,
    Location,
    Reservation,
    Sku,
    StockEvent,
    StockLevel,
    Transfer,
)


@dataclass(slots=True)
class Outcome:
    """What a mutation produced: its result, or the business error that changed nothing."""

    reservations: list[Reservation] = field(default_factory=list)
    level: StockLevel | None = None
    sku: Sku | None = None
    location: Location | None = None
    events: list[StockEvent] = field(default_factory=list)
    error: StockError | None = None
    channel: Channel | None = None
    incoming: Incoming | None = None
    transfer: Transfer | None = None
    shortfall: int = 0  # recordSales: what a sale sold beyond what on hand could give

    @property
    def reservation(self) -> Reservation | None:
        return self.reservations[0] if self.reservations else None
