"""Bundles (kits): components, upsertBundle's input rules, and the Python twin of SQL
`bundle_levels` (checked by tests/integration/test_bundle_formula.py); used by every layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidInput, Rejected, StockError
from domain.model import StockLevel
from domain.rules import Limits, check_code, check_quantity

MAX_BUNDLE_COMPONENTS = 50


@dataclass(frozen=True, slots=True)
class Component:
    """`quantity` units of the plain SKU `sku` (id `sku_id`) go into one bundle."""

    sku_id: int
    sku: str
    quantity: int


def bundle_fit(figure: int, per_bundle: int) -> int:
    """How many whole bundles `figure` units of a component make. Twin of SQL `bundle_fit`."""
    return max(0, figure) // per_bundle


def bundles_from(figures: Mapping[int, int], components: Sequence[Component]) -> int:
    """A bundle's figure at one location from its components' figures there (by SKU id): the
    minimum of bundle_fit over the components; 0 where a component has no figure. Twin of the
    per-location minimum in SQL `bundle_levels`."""
    if not components:
        return 0
    return min(
        bundle_fit(figures[c.sku_id], c.quantity) if c.sku_id in figures else 0
        for c in components
    )


def bundle_level(
    code: str, location_id: int, components: Sequence[Component],
    levels: Mapping[int, StockLevel], otherwise: datetime,
) -> StockLevel:
    """The bundle `code`'s derived level at one location from its components' levels there
    (by SKU id; a component without one counts 0): onHand, available and incoming by
    bundles_from, reserved, safety stock and version 0; updated when its latest component was
    (`otherwise` if none has a level there)."""

    def least(figure: Mapping[int, int]) -> int:
        return bundles_from(figure, components)

    return StockLevel(
        code, location_id,
        on_hand=least({sku_id: lv.on_hand for sku_id, lv in levels.items()}),
        reserved=0, safety_stock=0, version=0,
        updated_at=max((lv.updated_at for lv in levels.values()), default=otherwise),
        incoming=least({sku_id: lv.incoming for sku_id, lv in levels.items()}),
        bundle_available=least({sku_id: lv.available for sku_id, lv in levels.items()}),
    )


def held_components(
    components: Sequence[Component], quantity: int
) -> list[tuple[Component, int]]:
    """What a hold of `quantity` bundles takes of each component, in SKU-id order (the lock
    order of levels)."""
    return [(c, c.quantity * quantity) for c in sorted(components, key=lambda c: c.sku_id)]


def check_components(
    components: Sequence[tuple[str, int]], field: Sequence[str | int], limits: Limits
) -> None:
    """1..MAX_BUNDLE_COMPONENTS (sku, quantity) pairs, each SKU a code given once, each
    quantity as a hold's (positive, within the limit)."""
    if not components:
        raise InvalidInput("a bundle needs at least one component", field)
    if len(components) > MAX_BUNDLE_COMPONENTS:
        raise InvalidInput(f"a bundle has at most {MAX_BUNDLE_COMPONENTS} components", field)
    errors: list[StockError] = []
    seen: set[str] = set()
    for index, (sku, quantity) in enumerate(components):
        try:
            check_code(sku, [*field, index, "sku"])
        except StockError as error:
            errors.append(error)
        if sku in seen:
            errors.append(InvalidInput(f"component {sku!r} is listed twice",
                                       [*field, index, "sku"]))
        seen.add(sku)
        try:
            check_quantity(quantity, [*field, index, "quantity"], limits)
        except StockError as error:
            errors.append(error)
    if errors:
        raise errors[0] if len(errors) == 1 else Rejected(errors)
