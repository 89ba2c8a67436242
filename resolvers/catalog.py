"""Resolvers of the catalogue mutations: check the arguments, call one use case of
service.cataloguing (bound by schema.mutation)."""

from __future__ import annotations

from collections.abc import Callable

from domain.bundles import check_components
from domain.model import LocationKind
from domain.outcome import Outcome
from domain.rules import check_code, check_stock_figure, check_text
from resolvers.context import Info
from resolvers.mutation import refused
from service import cataloguing


def _sku_rules(
    info: Info, code: str, name: str, threshold: int | None
) -> list[Callable[[], object]]:
    """The rules a SKU's and a bundle's upsert share: its code, name and threshold."""
    limits = info.context.inventory.limits
    return [
        lambda: check_code(code, ["code"]),
        lambda: check_text(name, ["name"], required=True),
        lambda: threshold is None or check_stock_figure(threshold, ["lowStockThreshold"], limits),
    ]


async def upsert_sku(
    info: Info, *, code: str, name: str, low_stock_threshold: int | None
) -> Outcome:
    if (refusal := refused(*_sku_rules(info, code, name, low_stock_threshold))) is not None:
        return refusal
    outcome = await cataloguing.upsert_sku(
        info.context.inventory, code=code, name=name, low_stock_threshold=low_stock_threshold
    )
    await _changed(info, outcome, skus=[code])
    return outcome


async def upsert_bundle(
    info: Info, *, code: str, name: str, low_stock_threshold: int | None,
    components: list[tuple[str, int]],
) -> Outcome:
    limits = info.context.inventory.limits
    if (refusal := refused(
        *_sku_rules(info, code, name, low_stock_threshold),
        lambda: check_components(components, ["components"], limits),
    )) is not None:
        return refusal
    outcome = await cataloguing.upsert_bundle(
        info.context.inventory, code=code, name=name, low_stock_threshold=low_stock_threshold,
        components=components,
    )
    await _changed(info, outcome, skus=[code])
    return outcome


async def upsert_location(info: Info, *, code: str, name: str, kind: LocationKind) -> Outcome:
    if (refusal := refused(
        lambda: check_code(code, ["code"]),
        lambda: check_text(name, ["name"], required=True),
    )) is not None:
        return refusal
    outcome = await cataloguing.upsert_location(
        info.context.inventory, code=code, name=name, kind=kind
    )
    await _changed(info, outcome, locations=True)
    return outcome


async def _changed(
    info: Info, outcome: Outcome, *, skus: list[str] | None = None, locations: bool = False
) -> None:
    """What events do not carry changed: the read models drop it (feed/read_model.py)."""
    if outcome.error is None:
        await info.context.feed.catalogue_changed(skus or [], locations)
