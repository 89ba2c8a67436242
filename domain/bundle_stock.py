"""A bundle's figures from its components' stock: its derived levels, available, available-to-
promise by a date and next restock (store, resolvers' bundle reads and the bundle feed)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.bundles import Component, bundles_from
from domain.rules import MAX_FIGURE


@dataclass(frozen=True, slots=True)
class ComponentLevel:
    sku_id: int
    location_id: int
    on_hand: int
    available: int


@dataclass(frozen=True, slots=True)
class Due:
    """Open incoming stock of a component: `quantity` expected at a location by `expected_at`."""

    sku_id: int
    location_id: int
    quantity: int
    expected_at: datetime


@dataclass(frozen=True, slots=True)
class BundleStock:
    """What a bundle's figures are made of: its components, their levels and their open
    incoming."""

    components: tuple[Component, ...]
    levels: tuple[ComponentLevel, ...]
    due: tuple[Due, ...] = ()

    def available_by_location(self) -> dict[int, dict[int, int]]:
        """Location id -> {component SKU id: available} where the components have levels."""
        found: dict[int, dict[int, int]] = {}
        for level in self.levels:
            found.setdefault(level.location_id, {})[level.sku_id] = level.available
        return found


def _at(figures: Mapping[int, Mapping[int, int]], components: tuple[Component, ...],
        locations: Collection[int] | None) -> dict[int, int]:
    return {location: bundles_from(by_sku, components) for location, by_sku in figures.items()
            if locations is None or location in locations}


def available(stock: BundleStock, locations: Collection[int] | None = None) -> int:
    """The bundle's available: bundles_from at each location (only `locations`, if given),
    summed. What SQL `bundle_levels` sums to (test_bundle_formula checks bundles_from)."""
    return sum(_at(stock.available_by_location(), stock.components, locations).values())


def promise(stock: BundleStock, at: datetime, locations: Collection[int] | None = None) -> int:
    """Available-to-promise by `at`: at each location bundles_from over each component's
    available plus its open incoming expected there at or before `at` (overdue included, as
    for a plain SKU), summed over the locations (only `locations`, if given). Incoming counts
    only where the component has a level, as bundle_levels counts levels."""
    figures = stock.available_by_location()
    for due in stock.due:
        here = figures.get(due.location_id)
        if due.expected_at <= at and here is not None and due.sku_id in here:
            here[due.sku_id] += due.quantity
    return min(sum(_at(figures, stock.components, locations).values()), MAX_FIGURE)


def next_restock(stock: BundleStock) -> datetime | None:
    """The earliest expectedAt among the components' open incoming at which the bundle's
    available-to-promise rises above its available now: the bundle is back only when every
    component it lacks is. None if no open incoming does that. (Figures only rise as incoming
    is added, so the first moment whose total passes `now` is the answer.)"""
    figures = stock.available_by_location()
    at = _at(figures, stock.components, None)
    now = sum(at.values())
    for due in sorted(stock.due, key=lambda d: d.expected_at):
        here = figures.get(due.location_id)
        if here is None or due.sku_id not in here:
            continue
        here[due.sku_id] += due.quantity
        at[due.location_id] = bundles_from(here, stock.components)
        if sum(at.values()) > now:
            return due.expected_at
    return None


def no_events_of(code: str) -> str:
    """The refusal of a bundle's stock events (stockEvents subscriptions, the SSE feed)."""
    return (f"{code} is a bundle: it has no stock events of its own (its components carry the "
            f'ledger); subscribe to availability(sku: "{code}") for its live figures')
