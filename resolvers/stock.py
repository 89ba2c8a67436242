from __future__ import annotations

from domain.rules import check_adjustment, check_code, check_stock_figure, check_text
from resolvers.context import Info
from resolvers.mutation import run
from resolvers.permissions import check_locations
from schema.inputs import AdjustStockInput, SetStockInput
from schema.payloads import AdjustStockPayload, SetStockPayload
from store import levels


async def adjust_stock(info: Info, input: AdjustStockInput) -> AdjustStockPayload:
    limits = info.context.inventory.limits
    check_locations(info, input.location)
    outcome = await run(info, "adjustStock", input, [
        lambda: check_code(input.sku, ["sku"]),
        lambda: check_code(input.location, ["location"]),
        lambda: check_adjustment(input.delta, input.reason, ["delta"], limits),
        lambda: check_text(input.reference, ["reference"]),
        lambda: check_text(input.idempotency_key, ["idempotencyKey"]),
    ], lambda conn: levels.adjust(
        conn, input.sku, input.location, input.delta, input.reason, input.reference
    ))
    return AdjustStockPayload.from_outcome(outcome)


async def set_stock(info: Info, input: SetStockInput) -> SetStockPayload:
    limits = info.context.inventory.limits
    safety = input.safety_stock
    version = input.expected_version
    check_locations(info, input.location)
    outcome = await run(info, "setStock", input, [
        lambda: check_code(input.sku, ["sku"]),
        lambda: check_code(input.location, ["location"]),
        lambda: check_stock_figure(input.on_hand, ["onHand"], limits),
        lambda: safety is None or check_stock_figure(safety, ["safetyStock"], limits),
        lambda: version is None or check_stock_figure(version, ["expectedVersion"], limits),
        lambda: check_text(input.reference, ["reference"]),
        lambda: check_text(input.idempotency_key, ["idempotencyKey"]),
    ], lambda conn: levels.set_stock(
        conn, input.sku, input.location, input.on_hand, safety, version, input.reference
    ))
    return SetStockPayload.from_outcome(outcome)
