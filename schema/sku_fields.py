"""The Sku type's v2 fields that take arguments or load more: available/status through a channel,
components, incoming, nextRestockAt, availableToPromise (bound by schema/types.py's Sku, `root`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from domain.model import Sku
from resolvers import bundle_reads, channels
from resolvers import incoming as promising
from resolvers.context import Info
from schema.enums import AvailabilityStatus


async def available(root: Any, info: Info, channel: str | None = strawberry.UNSET) -> int:
    if channel is None or channel is strawberry.UNSET:
        figure: int = root.available_
        return figure
    return (await channels.figures(
        info, root.id_, root.is_bundle, root.low_stock_threshold, channel))[0]


async def status(
    root: Any, info: Info, channel: str | None = strawberry.UNSET
) -> AvailabilityStatus:
    if channel is None or channel is strawberry.UNSET:
        found: AvailabilityStatus = root.status_
        return found
    return (await channels.figures(
        info, root.id_, root.is_bundle, root.low_stock_threshold, channel))[1]


async def components(info: Info, bundle_id: int) -> list[tuple[Sku, int]]:
    """A bundle's component SKUs with the quantity of each that goes into one bundle."""
    found = await info.context.loaders.components.load(bundle_id)
    skus = await info.context.loaders.sku.load_many([c.sku for c in found])
    return [(sku, c.quantity) for sku, c in zip(skus, found, strict=True) if sku is not None]


async def incoming(root: Any, info: Info) -> int:
    levels = await info.context.loaders.levels_of(root.id_, root.is_bundle)
    return sum(level.incoming for level in levels)


async def next_restock_at(root: Any, info: Info) -> datetime | None:
    if root.is_bundle:
        return await bundle_reads.next_restock_at(info, root.id_)
    found: datetime | None = await info.context.loaders.next_restock.load(root.id_)
    return found


async def available_to_promise(
    root: Any, info: Info, at: datetime, channel: str | None = strawberry.UNSET
) -> int:
    wanted = None if channel is strawberry.UNSET else channel
    if root.is_bundle:
        return await bundle_reads.available_to_promise(info, root.id_, at, wanted)
    return await promising.available_to_promise(info, root.id_, at, wanted)
