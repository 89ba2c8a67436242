"""Resolvers of the stock mutations: check the arguments, call one use case of service.stocking
(bound by schema.mutation)."""

from __future__ import annotations

from domain.model import AdjustmentReason
from domain.outcome import Outcome
from domain.rules import check_adjustment, check_code, check_stock_figure, check_text
from resolvers.context import Info
from resolvers.mutation import refused
from resolvers.permissions import check_locations
from service import stocking


async def adjust_stock(
    info: Info, *, sku: str, location: str, delta: int, reason: AdjustmentReason,
    reference: str | None, idempotency_key: str | None,
) -> Outcome:
    limits = info.context.inventory.limits
    check_locations(info, location)
    if (refusal := refused(
        lambda: check_code(sku, ["sku"]),
        lambda: check_code(location, ["location"]),
        lambda: check_adjustment(delta, reason, ["delta"], limits),
        lambda: check_text(reference, ["reference"]),
        lambda: check_text(idempotency_key, ["idempotencyKey"]),
    )) is not None:
        return refusal
    return await stocking.adjust(
        info.context.inventory, sku=sku, location=location, delta=delta, reason=reason,
        reference=reference, idempotency_key=idempotency_key,
        idempotency_scope=info.context.idempotency_scope,
    )


async def set_stock(
    info: Info, *, sku: str, location: str, on_hand: int, safety_stock: int | None,
    expected_version: int | None, reference: str | None, idempotency_key: str | None,
) -> Outcome:
    limits = info.context.inventory.limits
    check_locations(info, location)
    if (refusal := refused(
        lambda: check_code(sku, ["sku"]),
        lambda: check_code(location, ["location"]),
        lambda: check_stock_figure(on_hand, ["onHand"], limits),
        lambda: safety_stock is None or check_stock_figure(safety_stock, ["safetyStock"], limits),
        lambda: expected_version is None
        or check_stock_figure(expected_version, ["expectedVersion"], limits),
        lambda: check_text(reference, ["reference"]),
        lambda: check_text(idempotency_key, ["idempotencyKey"]),
    )) is not None:
        return refusal
    return await stocking.set_stock(
        info.context.inventory, sku=sku, location=location, on_hand=on_hand,
        safety_stock=safety_stock, expected_version=expected_version, reference=reference,
        idempotency_key=idempotency_key, idempotency_scope=info.context.idempotency_scope,
    )
