"""The GraphQL side of bundles: upsertBundle's inputs and the function schema.mutation binds to
it (the Sku type's isBundle and components live in schema.types)."""

from __future__ import annotations

import strawberry

from resolvers import catalog
from resolvers.context import Info
from schema.payloads import UpsertSkuPayload
from schema.webhooks import given

UPSERT_DESCRIPTION = (
    "(v2) Creates or updates a bundle; its code may not be a plain SKU's (INVALID_INPUT)."
)


@strawberry.input
class BundleComponentInput:
    sku: str
    quantity: int


@strawberry.input(
    description="Components are plain SKUs (not bundles), each at most once, quantity >= 1. "
    "Changing a\nbundle's components never changes existing holds."
)
class UpsertBundleInput:
    code: str
    name: str
    low_stock_threshold: int | None = strawberry.UNSET  # the contract gives it no default
    components: list[BundleComponentInput]


async def upsert_bundle(info: Info, input: UpsertBundleInput) -> UpsertSkuPayload:
    return UpsertSkuPayload.from_outcome(await catalog.upsert_bundle(
        info, code=input.code, name=input.name,
        low_stock_threshold=given(input.low_stock_threshold),
        components=[(c.sku, c.quantity) for c in input.components],
    ))
