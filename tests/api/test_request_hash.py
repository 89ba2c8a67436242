"""The use cases hash a keyed request exactly as the API did when it hashed its input
(strawberry.asdict without the key), so keys stored before the use cases moved stay valid."""

from __future__ import annotations

from typing import Any

import strawberry

from domain.model import AdjustmentReason, LocationKind
from schema.inputs import (
    AdjustStockInput,
    CommitReservationInput,
    ReserveInput,
    ReserveLineInput,
    ReserveLinesInput,
    SetStockInput,
)
from service import cataloguing, reserving, stocking
from service.inventory import Inventory
from store import idempotency


def hashed_as_before(input: Any) -> str:
    arguments = strawberry.asdict(input)
    arguments.pop("idempotency_key")
    # fields added in v2 (channels), which the input hashed before did not have: left out
    # they are not hashed, so the keys stored before them stay valid
    for name, default in (("channel", None), ("allow_split", False)):
        if name in arguments and arguments[name] in (default, strawberry.UNSET):
            del arguments[name]
    return idempotency.request_hash(arguments)


async def stored_hash(inventory: Inventory, key: str) -> str:
    digest: str = await inventory.pool.fetchval(
        "SELECT request_hash FROM idempotency_keys WHERE key = $1", key)
    return digest


async def test_every_keyed_command_hashes_its_input_as_before(inventory: Inventory) -> None:
    await cataloguing.upsert_location(inventory, code="WH", name="WH", kind=LocationKind.WAREHOUSE)
    await cataloguing.upsert_sku(inventory, code="S", name="S", low_stock_threshold=None)
    await stocking.set_stock(inventory, sku="S", location="WH", on_hand=0, safety_stock=None,
                             expected_version=None, reference=None, idempotency_key="k1")
    assert await stored_hash(inventory, "k1") == hashed_as_before(
        SetStockInput(sku="S", location="WH", on_hand=0, idempotency_key="k1"))
    await stocking.adjust(inventory, sku="S", location="WH", delta=9, reason=AdjustmentReason.RESTOCK,
                          reference="r", idempotency_key="k2")
    assert await stored_hash(inventory, "k2") == hashed_as_before(AdjustStockInput(
        sku="S", location="WH", delta=9, reason=AdjustmentReason.RESTOCK, reference="r",
        idempotency_key="k2"))
    held = await reserving.reserve(inventory, sku="S", location=None, quantity=1, ttl=None,
                                   reference=None, idempotency_key="k3")
    assert await stored_hash(inventory, "k3") == hashed_as_before(
        ReserveInput(sku="S", quantity=1, idempotency_key="k3"))
    await reserving.reserve_lines(inventory, lines=[("S", "WH", 1), ("S", None, 2)], ttl=60,
                                  reference="cart", idempotency_key="k4")
    assert await stored_hash(inventory, "k4") == hashed_as_before(ReserveLinesInput(
        lines=[ReserveLineInput(sku="S", quantity=1, location="WH"),
               ReserveLineInput(sku="S", quantity=2)],
        ttl_seconds=60, reference="cart", idempotency_key="k4"))
    assert held.reservation is not None
    await reserving.commit(inventory, reservation_id=held.reservation.id, reference=None,
                           idempotency_key="k5")
    assert await stored_hash(inventory, "k5") == hashed_as_before(CommitReservationInput(
        reservation_id=strawberry.ID(held.reservation.id), idempotency_key="k5"))


def test_one_instant_hashes_the_same_however_it_is_written() -> None:
    """A retry that writes the same expectedAt in another offset is the same request (it was
    IDEMPOTENCY_KEY_REUSED); a UTC time hashes as str() wrote it before, so stored keys match."""
    from datetime import UTC, datetime, timedelta, timezone

    utc = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert idempotency.request_hash({"expected_at": paris}) == \
        idempotency.request_hash({"expected_at": utc})
    assert idempotency.request_hash({"expected_at": utc}) == idempotency.request_hash(
        {"expected_at": "2026-12-12 10:00:00+00:00"})
    assert idempotency.request_hash({"expected_at": utc + timedelta(seconds=1)}) != \
        idempotency.request_hash({"expected_at": utc})
