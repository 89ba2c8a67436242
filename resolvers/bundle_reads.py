"""A bundle's availableToPromise and nextRestockAt, from its components' levels and open
incoming through domain.bundle_stock (bound by schema/sku_fields.py for a bundle)."""

from __future__ import annotations

from datetime import datetime

from domain import bundle_stock
from resolvers import channels
from resolvers.context import Info


async def available_to_promise(
    info: Info, bundle_id: int, at: datetime, channel: str | None
) -> int:
    places = (await channels.known(info, channel)).location_ids if channel is not None else None
    stock = await info.context.loaders.bundle_stock.load(bundle_id)
    return bundle_stock.promise(stock, at, places)


async def next_restock_at(info: Info, bundle_id: int) -> datetime | None:
    return bundle_stock.next_restock(await info.context.loaders.bundle_stock.load(bundle_id))
