"""Holding stock: reserve, reserve lines, extend, commit and release, one use case each (called
by resolvers.reservations and tests)."""

from __future__ import annotations

from collections.abc import Sequence

from domain.errors import StockError
from domain.outcome import Outcome
from domain.ownership import ANONYMOUS, Acting
from domain.rules import hold_seconds, merge_lines
from service.inventory import Inventory
from service.recording import Command
from store import carts, reservations, split_holds
from store.hold_batch import HoldRequest

# Each `arguments` dict below is what a retry with the same idempotency key must repeat: its
# keys are stored (hashed) with the key, so they stay as they were first written.


def _through(channel: str | None) -> dict[str, str]:
    """A channel joins the arguments only when given, so keys stored before channels existed
    still hash the same."""
    return {"channel": channel} if channel is not None else {}


async def reserve(
    inventory: Inventory, *, sku: str, location: str | None, quantity: int, ttl: int | None,
    reference: str | None, idempotency_key: str | None = None, idempotency_scope: str = "-",
    acting: Acting = ANONYMOUS, channel: str | None = None, within: Sequence[str] | None = None,
    allow_split: bool = False,
) -> Outcome:
    """Hold `quantity` of `sku` at `location` (None: the location with the most available) for
    `ttl` seconds (None: the default). Without an idempotency key, and when the unit of work
    commits in groups, it is committed together with the holds arriving at the same time.
    The hold belongs to `acting`'s key (domain.ownership). Through `channel`, only at its
    locations (without `location`: the first in priority order, within `within`, a
    location-bound key's own); never group-committed (store/hold_batch.py knows no channels).
    With `allow_split` (never with `location`, nor for a bundle), spread over several
    locations if no one can hold it all (store.split_holds). A bundle is held whole at one
    location, every component in one transaction (store.bundle_holds), never in a batch."""
    try:
        seconds = hold_seconds(ttl, ["ttl"], inventory.limits)
    except StockError as error:
        return Outcome(error=error)
    if allow_split:
        return await inventory.mutate(
            lambda conn: split_holds.reserve_split(
                conn, sku, quantity, seconds, reference, acting.key_id, channel, within),
            command=Command.RESERVE,
            arguments={"sku": sku, "quantity": quantity, "location": location,
                       "ttl_seconds": ttl, "reference": reference, **_through(channel),
                       "allow_split": True},
            idempotency_key=idempotency_key,
            principal=idempotency_scope,
        )
    batcher = inventory.batcher
    if batcher is not None and idempotency_key is None and channel is None and batcher.holds(sku):
        batched = await batcher.reserve(
            sku, HoldRequest(location, quantity, seconds, reference, acting.key_id))
        if batched is not None:
            return batched  # None: a bundle, which the batch handed back untouched
    return await inventory.mutate(
        lambda conn: reservations.reserve(
            conn, sku, location, quantity, seconds, reference, acting.key_id, channel, within),
        command=Command.RESERVE,
        arguments={"sku": sku, "quantity": quantity, "location": location,
                   "ttl_seconds": ttl, "reference": reference, **_through(channel)},
        idempotency_key=idempotency_key,
        principal=idempotency_scope,
    )


async def reserve_lines(
    inventory: Inventory, *, lines: Sequence[tuple[str, str | None, int]], ttl: int | None,
    reference: str | None, idempotency_key: str | None = None, idempotency_scope: str = "-",
    acting: Acting = ANONYMOUS, channel: str | None = None, within: Sequence[str] | None = None,
) -> Outcome:
    """Hold every (sku, location, quantity) line of a cart, or none; lines of the same SKU and
    location are summed, and a bundle's demand with its components' (store.carts). `channel`
    and `within` as in reserve."""
    try:
        merged = merge_lines(lines, inventory.limits)
        seconds = hold_seconds(ttl, ["ttl"], inventory.limits)
    except StockError as error:
        return Outcome(error=error)
    return await inventory.mutate(
        lambda conn: carts.reserve_lines(
            conn, merged, seconds, reference, acting.key_id, channel, within),
        command=Command.RESERVE_LINES,
        arguments={
            "lines": [{"sku": sku, "quantity": quantity, "location": location}
                      for sku, location, quantity in lines],
            "ttl_seconds": ttl, "reference": reference, **_through(channel),
        },
        idempotency_key=idempotency_key,
        principal=idempotency_scope,
    )


async def extend(
    inventory: Inventory, *, reservation_id: str, ttl: int, acting: Acting = ANONYMOUS
) -> Outcome:
    """Hold an ACTIVE reservation for `ttl` seconds from now. This and commit and release
    raise domain.ownership.NotOwner, changing nothing, if `acting` may not change the hold."""
    try:
        seconds = hold_seconds(ttl, ["ttl"], inventory.limits)
    except StockError as error:
        return Outcome(error=error)
    return await inventory.mutate(
        lambda conn: reservations.extend(conn, reservation_id, seconds, acting),
        command=Command.EXTEND,
        arguments={"reservation_id": reservation_id, "ttl_seconds": ttl},
    )


async def commit(
    inventory: Inventory, *, reservation_id: str, reference: str | None,
    idempotency_key: str | None = None, idempotency_scope: str = "-",
    acting: Acting = ANONYMOUS,
) -> Outcome:
    """Turn an ACTIVE reservation into a sale."""
    return await inventory.mutate(
        lambda conn: reservations.commit(conn, reservation_id, reference, acting),
        command=Command.COMMIT,
        arguments={"reservation_id": reservation_id, "reference": reference},
        idempotency_key=idempotency_key,
        principal=idempotency_scope,
    )


async def release(
    inventory: Inventory, *, reservation_id: str, acting: Acting = ANONYMOUS
) -> Outcome:
    """Give an ACTIVE reservation's stock back."""
    return await inventory.mutate(
        lambda conn: reservations.release(conn, reservation_id, acting),
        command=Command.RELEASE,
        arguments={"reservation_id": reservation_id},
    )
