"""Turn database records into domain values: the one place records end (used by store's modules)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from domain.model import (
    AdjustmentReason,
    AvailabilityStatus,
    Channel,
    HeldComponent,
    Incoming,
    IncomingSource,
    IncomingStatus,
    Location,
    LocationKind,
    Reservation,
    ReservationStatus,
    Sku,
    StockEvent,
    StockEventKind,
    StockLevel,
    Transfer,
    TransferLine,
    TransferStatus,
)

Record = Any  # asyncpg.Record, or any mapping with the same keys

# Over `skus s LEFT JOIN stock_levels l ... GROUP BY s.id`: a plain SKU's totals.
SKU_COLUMNS = """
    s.id, s.code, s.name, s.low_stock_threshold, s.last_sequence, s.is_bundle,
    coalesce(sum(l.on_hand), 0) AS on_hand,
    coalesce(sum(l.reserved), 0) AS reserved,
    coalesce(sum(stock_available(l.on_hand, l.reserved, l.safety_stock)), 0) AS available
"""

# A bundle's totals in the skus page, over `skus s` and its derived levels summed as `b`: no
# levels of its own, so nothing reserved; onHand and available from `bundle_levels`.
BUNDLE_COLUMNS = """
    s.id, s.code, s.name, s.low_stock_threshold, s.last_sequence, s.is_bundle,
    coalesce(b.on_hand, 0) AS on_hand, 0::bigint AS reserved,
    coalesce(b.available, 0) AS available
"""

LEVEL_COLUMNS = (
    "sku_id, location_id, on_hand, reserved, safety_stock, version, updated_at, incoming"
)

RESERVATION_COLUMNS = (
    "id::text AS id, sku_id, location_id, quantity, status, expires_at, reference, created_at, "
    "owner, channel_id"
)

# What a hold holds of each component (empty for a plain hold), in SKU-id order; for a
# statement over `reservations` (a SELECT, or an UPDATE's RETURNING).
HELD_COLUMNS = """
ARRAY(SELECT s.code FROM reservation_components rc JOIN skus s ON s.id = rc.sku_id
      WHERE rc.reservation_id = reservations.id ORDER BY rc.sku_id) AS held_skus,
ARRAY(SELECT rc.quantity FROM reservation_components rc
      WHERE rc.reservation_id = reservations.id ORDER BY rc.sku_id) AS held_quantities
"""


def location(r: Record) -> Location:
    return Location(id=r["id"], code=r["code"], name=r["name"], kind=LocationKind(r["kind"]))


def sku(r: Record) -> Sku:
    return Sku(
        id=r["id"],
        code=r["code"],
        name=r["name"],
        low_stock_threshold=r["low_stock_threshold"],
        on_hand=int(r["on_hand"]),
        reserved=int(r["reserved"]),
        available=int(r["available"]),
        sequence=r["last_sequence"],
        is_bundle=r["is_bundle"],
    )


def bundle_totals(bundle: Sku, r: Record | None) -> Sku:
    """A bundle read as a plain SKU (no levels: zeros), with its totals from catalog's
    BUNDLE_TOTALS (None: it has no derived level anywhere)."""
    if r is None:
        return replace(bundle, on_hand=0, reserved=0, available=0)
    return replace(bundle, on_hand=int(r["on_hand"]), reserved=0, available=int(r["available"]))


def level(r: Record, sku_code: str) -> StockLevel:
    return StockLevel(
        sku=sku_code,
        location_id=r["location_id"],
        on_hand=r["on_hand"],
        reserved=r["reserved"],
        safety_stock=r["safety_stock"],
        version=r["version"],
        updated_at=r["updated_at"],
        incoming=r["incoming"],
    )


def bundle_level(r: Record) -> StockLevel:
    """A row of `bundle_levels` (with the bundle's code as `sku`): a bundle's derived level."""
    return StockLevel(
        sku=r["sku"], location_id=r["location_id"], on_hand=r["on_hand"], reserved=0,
        safety_stock=0, version=0, updated_at=r["updated_at"], incoming=r["incoming"],
        bundle_available=r["available"],
    )


def held(r: Record) -> tuple[HeldComponent, ...]:
    """From a record with HELD_COLUMNS."""
    return tuple(HeldComponent(sku, quantity)
                 for sku, quantity in zip(r["held_skus"], r["held_quantities"], strict=True))


def reservation(
    r: Record, sku_code: str, components: Sequence[HeldComponent] = ()
) -> Reservation:
    return Reservation(
        id=r["id"],
        sku=sku_code,
        location_id=r["location_id"],
        quantity=r["quantity"],
        status=ReservationStatus(r["status"]),
        expires_at=r["expires_at"],
        reference=r["reference"],
        created_at=r["created_at"],
        owner=r["owner"],
        channel_id=r["channel_id"],
        components=tuple(components),
    )


def event(r: Record) -> StockEvent:
    return StockEvent(
        sku=r["sku"],
        sequence=r["sequence"],
        kind=StockEventKind(r["kind"]),
        location_id=r["location_id"],
        location=r["location"],
        on_hand_delta=r["on_hand_delta"],
        reserved_delta=r["reserved_delta"],
        level=StockLevel(
            sku=r["sku"],
            location_id=r["location_id"],
            on_hand=r["level_on_hand"],
            reserved=r["level_reserved"],
            safety_stock=r["level_safety"],
            version=r["level_version"],
            updated_at=r["occurred_at"],
            incoming=r["level_incoming"],
        ),
        sku_on_hand=r["sku_on_hand"],
        sku_reserved=r["sku_reserved"],
        available=r["available"],
        status=AvailabilityStatus(r["status"]),
        reason=AdjustmentReason(r["reason"]) if r["reason"] else None,
        reservation_id=str(r["reservation_id"]) if r["reservation_id"] else None,
        reference=r["reference"],
        occurred_at=r["occurred_at"],
        actor=r["actor"],
        incoming_delta=r["incoming_delta"],
        incoming_id=str(r["incoming_id"]) if r["incoming_id"] else None,
        transfer_id=str(r["transfer_id"]) if r["transfer_id"] else None,
        happened_at=r.get("happened_at"),
    )


INCOMING_COLUMNS = (
    "id::text AS id, sku_id, location_id, quantity, received, expected_at, status, source, "
    "transfer_id::text AS transfer_id, reference, created_at"
)


def incoming(r: Record, sku_code: str) -> Incoming:
    return Incoming(
        id=r["id"],
        sku=sku_code,
        location_id=r["location_id"],
        quantity=r["quantity"],
        received=r["received"],
        expected_at=r["expected_at"],
        status=IncomingStatus(r["status"]),
        source=IncomingSource(r["source"]),
        transfer_id=r["transfer_id"],
        reference=r["reference"],
        created_at=r["created_at"],
    )


TRANSFER_COLUMNS = (
    "id::text AS id, from_location_id, to_location_id, status, expected_at, reference, "
    "created_at"
)


def transfer(r: Record, lines: list[TransferLine]) -> Transfer:
    return Transfer(
        id=r["id"],
        from_location_id=r["from_location_id"],
        to_location_id=r["to_location_id"],
        status=TransferStatus(r["status"]),
        lines=tuple(lines),
        expected_at=r["expected_at"],
        reference=r["reference"],
        created_at=r["created_at"],
    )


def transfer_line(r: Record) -> TransferLine:
    return TransferLine(sku=r["sku"], quantity=r["quantity"], received=r["received"])


def channel(r: Record) -> Channel:
    """From a record with the channel's id, code, name and `location_ids` in priority order."""
    return Channel(id=r["id"], code=r["code"], name=r["name"],
                   location_ids=tuple(r["location_ids"]))
