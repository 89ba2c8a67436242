"""The inventory's values and the stock formula's Python twin; used by every layer above."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class AvailabilityStatus(enum.Enum):
    IN_STOCK = "IN_STOCK"
    LOW_STOCK = "LOW_STOCK"
    OUT_OF_STOCK = "OUT_OF_STOCK"


class LocationKind(enum.Enum):
    STORE = "STORE"
    WAREHOUSE = "WAREHOUSE"


class StockEventKind(enum.Enum):
    SNAPSHOT = "SNAPSHOT"
    RESERVED = "RESERVED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    COMMITTED = "COMMITTED"
    ADJUSTED = "ADJUSTED"
    SET = "SET"
    INCOMING = "INCOMING"
    RECEIVED = "RECEIVED"
    SHIPPED = "SHIPPED"
    MOVED = "MOVED"
    SHORTED = "SHORTED"


class AdjustmentReason(enum.Enum):
    RESTOCK = "RESTOCK"
    SALE = "SALE"
    RETURN = "RETURN"
    DAMAGE = "DAMAGE"
    CORRECTION = "CORRECTION"
    TRANSFER = "TRANSFER"


class ReservationStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    SHORTED = "SHORTED"


def available_quantity(on_hand: int, reserved: int, safety_stock: int) -> int:
    """What can still be held at one level. Twin of SQL `stock_available` (migrations/0003);
    tests/integration/test_formula.py checks that the two agree."""
    return max(0, on_hand - reserved - safety_stock)


def availability_status(available: int, low_stock_threshold: int) -> AvailabilityStatus:
    """A SKU's status from its available total. Twin of SQL `stock_status` (migrations/0003),
    checked by tests/integration/test_formula.py."""
    if available <= 0:
        return AvailabilityStatus.OUT_OF_STOCK
    if available <= low_stock_threshold:
        return AvailabilityStatus.LOW_STOCK
    return AvailabilityStatus.IN_STOCK


@dataclass(frozen=True, slots=True)
class Location:
    id: int
    code: str
    name: str
    kind: LocationKind


@dataclass(frozen=True, slots=True)
class StockLevel:
    sku: str
    location_id: int
    on_hand: int
    reserved: int
    safety_stock: int
    version: int
    updated_at: datetime
    incoming: int = 0  # expected here and not yet received; never part of available
    # A bundle's derived level (domain.bundles.bundle_level) carries its available, the
    # minimum over its components, which its own zero reserved and safety stock cannot give.
    bundle_available: int | None = None

    @property
    def available(self) -> int:
        if self.bundle_available is not None:
            return self.bundle_available
        return available_quantity(self.on_hand, self.reserved, self.safety_stock)


@dataclass(frozen=True, slots=True)
class Sku:
    """A SKU with its figures summed over all locations."""

    id: int
    code: str
    name: str
    low_stock_threshold: int
    on_hand: int
    reserved: int
    available: int
    sequence: int
    is_bundle: bool = False  # a kit: no stock of its own, figures derived from its components

    @property
    def status(self) -> AvailabilityStatus:
        return availability_status(self.available, self.low_stock_threshold)


@dataclass(frozen=True, slots=True)
class HeldComponent:
    """What a bundle hold holds of one component SKU at the hold's location."""

    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    sku: str
    location_id: int
    quantity: int
    status: ReservationStatus
    expires_at: datetime
    reference: str | None
    created_at: datetime
    owner: int | None = None  # the key that made it (None: anonymous or ADMIN_API_KEY)
    channel_id: int | None = None  # the channel it was taken through, if any
    components: tuple[HeldComponent, ...] = ()  # a bundle hold's, in SKU-id order; () if plain


@dataclass(frozen=True, slots=True)
class StockEvent:
    """One ledger entry; `level` is None only for a SNAPSHOT."""

    sku: str
    sequence: int
    kind: StockEventKind
    location_id: int | None
    location: str | None
    on_hand_delta: int
    reserved_delta: int
    level: StockLevel | None
    sku_on_hand: int
    sku_reserved: int
    available: int
    status: AvailabilityStatus
    reason: AdjustmentReason | None
    reservation_id: str | None
    reference: str | None
    occurred_at: datetime
    actor: int | None = None  # the key its reservation id and reference are shown to
    incoming_delta: int = 0
    incoming_id: str | None = None
    transfer_id: str | None = None
    happened_at: datetime | None = None  # when it happened in the world, if the caller said


class IncomingStatus(enum.Enum):
    EXPECTED = "EXPECTED"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


class IncomingSource(enum.Enum):
    PURCHASE = "PURCHASE"
    TRANSFER = "TRANSFER"


@dataclass(frozen=True, slots=True)
class Incoming:
    """Stock expected at a location; overdue (expected_at passed) it stays EXPECTED."""

    id: str
    sku: str
    location_id: int
    quantity: int
    received: int
    expected_at: datetime
    status: IncomingStatus
    source: IncomingSource
    transfer_id: str | None
    reference: str | None
    created_at: datetime

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.received if self.status is IncomingStatus.EXPECTED else 0


class TransferStatus(enum.Enum):
    IN_TRANSIT = "IN_TRANSIT"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class TransferLine:
    """One SKU of a transfer: `quantity` shipped, `received` at its destination (after
    receipt, quantity - received was lost in transit)."""

    sku: str
    quantity: int
    received: int = 0


@dataclass(frozen=True, slots=True)
class Transfer:
    """Stock moving from one location to another, one line per SKU in the order shipped."""

    id: str
    from_location_id: int
    to_location_id: int
    status: TransferStatus
    lines: tuple[TransferLine, ...]
    expected_at: datetime | None
    reference: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Channel:
    """A sales channel: the locations it may sell from, highest sourcing priority first."""

    id: int
    code: str
    name: str
    location_ids: tuple[int, ...]
