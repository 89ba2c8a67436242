from __future__ import annotations

import asyncpg

from domain.outcome import Outcome
from domain.rules import check_code, check_stock_figure, check_text
from resolvers.context import Info
from resolvers.mutation import run
from schema.inputs import UpsertLocationInput, UpsertSkuInput
from schema.payloads import UpsertLocationPayload, UpsertSkuPayload
from store import catalog


async def upsert_sku(info: Info, input: UpsertSkuInput) -> UpsertSkuPayload:
    limits = info.context.inventory.limits
    threshold = input.low_stock_threshold

    async def work(conn: asyncpg.Connection) -> Outcome:
        await catalog.upsert_sku(conn, input.code, input.name, threshold)
        return Outcome(sku=(await catalog.skus_by_code(conn, [input.code]))[input.code])

    outcome = await run(info, "upsertSku", input, [
        lambda: check_code(input.code, ["code"]),
        lambda: check_text(input.name, ["name"], required=True),
        lambda: threshold is None or check_stock_figure(threshold, ["lowStockThreshold"], limits),
    ], work)
    return UpsertSkuPayload.from_outcome(outcome)


async def upsert_location(info: Info, input: UpsertLocationInput) -> UpsertLocationPayload:
    async def work(conn: asyncpg.Connection) -> Outcome:
        return Outcome(location=await catalog.upsert_location(
            conn, input.code, input.name, input.kind
        ))

    outcome = await run(info, "upsertLocation", input, [
        lambda: check_code(input.code, ["code"]),
        lambda: check_text(input.name, ["name"], required=True),
    ], work)
    return UpsertLocationPayload.from_outcome(outcome)
