"""Counting stock in: adjust and set one level, one use case each (called by
resolvers.stock, service.seed and tests)."""

from __future__ import annotations

from domain.model import AdjustmentReason
from domain.outcome import Outcome
from service.inventory import Inventory
from service.recording import Command
from store import levels

# Each `arguments` dict below is what a retry with the same idempotency key must repeat: its
# keys are stored (hashed) with the key, so they stay as they were first written.


async def adjust(
    inventory: Inventory, *, sku: str, location: str, delta: int, reason: AdjustmentReason,
    reference: str | None, idempotency_key: str | None = None, idempotency_scope: str = "-",
) -> Outcome:
    """Change a level's on-hand stock by `delta`; never below what is reserved there."""
    return await inventory.mutate(
        lambda conn: levels.adjust(
            conn, sku, location, delta, reason, reference, inventory.limits.max_quantity
        ),
        command=Command.ADJUST,
        arguments={"sku": sku, "location": location, "delta": delta, "reason": reason,
                   "reference": reference},
        idempotency_key=idempotency_key,
        principal=idempotency_scope,
    )


async def set_stock(
    inventory: Inventory, *, sku: str, location: str, on_hand: int, safety_stock: int | None,
    expected_version: int | None, reference: str | None, idempotency_key: str | None = None,
    idempotency_scope: str = "-",
) -> Outcome:
    """Set a level's on-hand (and safety) stock, creating the level if needed; with
    `expected_version`, only while the level is at that version (0: does not exist yet)."""
    return await inventory.mutate(
        lambda conn: levels.set_stock(
            conn, sku, location, on_hand, safety_stock, expected_version, reference
        ),
        command=Command.SET_STOCK,
        arguments={"sku": sku, "location": location, "on_hand": on_hand,
                   "safety_stock": safety_stock, "expected_version": expected_version,
                   "reference": reference},
        idempotency_key=idempotency_key,
        principal=idempotency_scope,
    )
