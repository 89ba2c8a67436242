"""What partner feeds send from the ledger: each entry with the SKU's availability before it, and
the availability changes it caused (built by store/cursors.py and feed/bundle_feed.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.model import AvailabilityStatus, StockEvent

# Before a SKU's first entry it has nothing: what its first entry is compared with.
NOTHING = (0, AvailabilityStatus.OUT_OF_STOCK)


@dataclass(frozen=True, slots=True)
class AvailabilityChange:
    """`sku`'s available or status moved; `cause_sku`/`cause_sequence` name the entry that moved
    it (a component's, for a bundle)."""

    sku: str
    cause_sku: str
    cause_sequence: int
    on_hand: int
    reserved: int
    available: int
    status: AvailabilityStatus
    previous_available: int
    previous_status: AvailabilityStatus
    occurred_at: datetime

    @property
    def moved(self) -> bool:
        """Available or status moved: an `inventory.availability.changed` event. (A bundle's
        change can move only onHand, which the MQTT retained figures carry.)"""
        return (self.available, self.status) != (self.previous_available, self.previous_status)


@dataclass(frozen=True, slots=True)
class LedgerChange:
    """One ledger entry with what the SKU's available and status were before it. `sku_id` is the
    cursor's key (store/cursors.py). `bundles`: the figures it moved of bundles made of the SKU
    (domain/bundle_changes.py), in bundle id order."""

    sku_id: int
    event: StockEvent
    previous_available: int
    previous_status: AvailabilityStatus
    bundles: tuple[AvailabilityChange, ...] = ()

    @property
    def availability(self) -> AvailabilityChange | None:
        """The availability change this entry made, None if available and status stayed."""
        event = self.event
        if (event.available, event.status) == (self.previous_available, self.previous_status):
            return None
        return AvailabilityChange(
            sku=event.sku, cause_sku=event.sku, cause_sequence=event.sequence,
            on_hand=event.sku_on_hand, reserved=event.sku_reserved, available=event.available,
            status=event.status, previous_available=self.previous_available,
            previous_status=self.previous_status, occurred_at=event.occurred_at)

    @property
    def availability_changes(self) -> list[AvailabilityChange]:
        """Every `inventory.availability.changed` this entry caused, in the order partners get
        them: the SKU's own, then each bundle's whose available or status it moved."""
        own = self.availability
        return ([] if own is None else [own]) + [b for b in self.bundles if b.moved]
