"""Where the lines of a cart (plain SKUs and bundles) and a bundle's single hold are held, planned
against the locked levels before anything is written (used by store.carts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.bundles import Component, bundles_from

Level = tuple[int, int]  # (SKU id, location id)


@dataclass(frozen=True, slots=True)
class Demand:
    """One line: `quantity` of a SKU made of `parts` (a plain SKU is its own one part of 1),
    at `location`, else at one of `among` (a channel's locations in priority order; None:
    every location, the one where the most of it is available first)."""

    index: int
    parts: tuple[Component, ...]
    quantity: int
    location: int | None = None
    among: tuple[int, ...] | None = None

    def takes(self) -> list[tuple[int, int]]:
        """(SKU id, units) this line takes at its location."""
        return [(part.sku_id, part.quantity * self.quantity) for part in self.parts]


def _fit(line: Demand, location: int, left: Mapping[Level, int]) -> int:
    """How many of the line's SKU (whole bundles) `left` has at `location`."""
    here = {p.sku_id: left[p.sku_id, location] for p in line.parts if (p.sku_id, location) in left}
    return bundles_from(here, line.parts)


def _pick(
    line: Demand, left: Mapping[Level, int], places: Mapping[int, Sequence[int]]
) -> int | None:
    if line.among is not None:
        return next((loc for loc in line.among if _fit(line, loc, left) >= line.quantity), None)
    fits = [(-n, loc) for loc in places.get(line.parts[0].sku_id, ())
            if (n := _fit(line, loc, left)) >= line.quantity]
    # the most available first, ties: the oldest location (the lowest id), as a plain hold
    return min(fits)[1] if fits else None


def plan(lines: Sequence[Demand], available: Mapping[Level, int]) -> dict[int, int | None]:
    """The location each line is held at, by line index (None: it cannot be held).

    The lines that name a location are checked together first: their demand is summed per
    component SKU and location (a bundle's components and plain lines of the same SKUs
    alike), and every line that adds to a level asked for more than its available fails.
    Then each line without a location, in order, picks where to hold as a single reserve
    does, from what the lines before it left."""
    left = dict(available)
    # each SKU's locations, found once: a line's pick looks at its own SKU's levels only, so a
    # cart of many lines over many locked levels costs lines x locations x parts, not more
    places: dict[int, list[int]] = {}
    for sku_id, location in sorted(available):
        places.setdefault(sku_id, []).append(location)
    located: dict[Level, int] = {}
    for line in lines:
        if line.location is not None:
            for sku_id, units in line.takes():
                located[sku_id, line.location] = located.get((sku_id, line.location), 0) + units
    short = {level for level, units in located.items() if units > available.get(level, 0)}
    for level, units in located.items():
        left[level] = left.get(level, 0) - units
    chosen: dict[int, int | None] = {}
    for line in lines:
        if not line.parts:  # a bundle without components (upsertBundle refuses one)
            chosen[line.index] = None
        elif line.location is not None:
            fails = any((sku_id, line.location) in short for sku_id, _ in line.takes())
            chosen[line.index] = None if fails else line.location
        elif (where := _pick(line, left, places)) is not None:
            chosen[line.index] = where
            for sku_id, units in line.takes():
                left[sku_id, where] -= units
        else:
            chosen[line.index] = None
    return chosen
