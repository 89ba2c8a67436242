"""Resolvers of ship/receive/cancelTransfer and the transfer and transfers queries (bound by
schema.transfers).

A key bound to locations ships and cancels only from them and receives only at them."""

from __future__ import annotations

from datetime import datetime

from domain.model import Transfer, TransferStatus
from domain.outcome import Outcome
from domain.rules import check_code, check_text, is_reservation_id
from domain.transfers import check_ends, check_transfer_id, merge_transfer_lines
from resolvers.context import Info
from resolvers.mutation import refused
from resolvers.permissions import check_locations
from resolvers.queries import page_size, text_argument
from service import transfers

MAX_TRANSFERS = 500


async def ship_transfer(
    info: Info, *, from_: str, to: str, lines: list[tuple[str, int]],
    expected_at: datetime | None, reference: str | None, idempotency_key: str | None,
) -> Outcome:
    limits = info.context.inventory.limits
    check_locations(info, from_)
    if (refusal := refused(
        lambda: check_code(from_, ["from"]),
        lambda: check_code(to, ["to"]),
        lambda: check_ends(from_, to),
        lambda: merge_transfer_lines(lines, limits),
        lambda: check_text(reference, ["reference"]),
        lambda: check_text(idempotency_key, ["idempotencyKey"]),
    )) is not None:
        return refusal
    return await transfers.ship(
        info.context.inventory, from_=from_, to=to, lines=lines, expected_at=expected_at,
        reference=reference, idempotency_key=idempotency_key,
        idempotency_scope=info.context.idempotency_scope,
    )


async def _bound(info: Info, transfer_id: str, end: int) -> None:
    """A key bound to locations settles only transfers whose `end` (0: from, 1: to) is one of
    them; an unknown transfer goes on to its NOT_FOUND."""
    principal = info.context.principal
    if principal is None or principal.locations is None:
        return
    found = await transfers.ends(info.context.inventory.pool, transfer_id)
    if found is not None:
        check_locations(info, found[end])


async def receive_transfer(
    info: Info, *, transfer_id: str, lines: list[tuple[str, int]] | None,
    idempotency_key: str | None,
) -> Outcome:
    limits = info.context.inventory.limits
    if (refusal := refused(
        lambda: check_transfer_id(transfer_id, ["transferId"]),
        lambda: lines is None or merge_transfer_lines(lines, limits, receipt=True),
        lambda: check_text(idempotency_key, ["idempotencyKey"]),
    )) is not None:
        return refusal
    await _bound(info, transfer_id, 1)
    return await transfers.receive(
        info.context.inventory, transfer_id=transfer_id, lines=lines,
        idempotency_key=idempotency_key, idempotency_scope=info.context.idempotency_scope,
    )


async def cancel_transfer(info: Info, *, transfer_id: str) -> Outcome:
    if (refusal := refused(
        lambda: check_transfer_id(transfer_id, ["transferId"]),
    )) is not None:
        return refusal
    await _bound(info, transfer_id, 0)
    return await transfers.cancel(info.context.inventory, transfer_id=transfer_id)


async def transfer(info: Info, transfer_id: str) -> Transfer | None:
    if not is_reservation_id(transfer_id):
        return None
    return await transfers.transfer(info.context.reads, transfer_id)


async def transfer_list(
    info: Info, *, status: TransferStatus | None, location: str | None, first: int | None,
) -> list[Transfer]:
    limit = page_size(first, MAX_TRANSFERS)
    if location is not None:
        text_argument(location, "location")
    return await transfers.transfer_page(
        info.context.reads, status=status.value if status else None,
        location=location, limit=limit,
    )
