"""What partners are sent of a bundle: its figures replayed over a tail round's component entries,
and the changes each entry made (called by feed/bundle_feed.py; the formula is domain/bundles.py's).

A bundle has no ledger, and an entry records its own SKU's level, not the other components'.
So a round starts from every component's levels as the sink has handed them on (store/
bundle_figures.py reads them; the round's own SKUs are also taken back here to before their
first entry of the round at each location: the entry's level less its deltas) and applies the
round's entries in order, SKU by SKU. Each bundle figure sent is thus computed from every
component as of the last entry of it the sink handed on: for one sink, a replay of the order
in which it handed the entries on. Each entry's figures are compared with the last ones the
sink handed on (`sent`), so no change is lost or sent twice, a change made without an entry
(upsertBundle) goes with the next one, and once the tails have caught up the last figures sent
are the bundle's current ones. Approximations, in intermediate values only: a safety stock that
setStock changed is taken as after the entry, and a component more than a window of entries
behind is taken as it is now beyond it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from domain.bundles import Component, bundles_from
from domain.changes import AvailabilityChange, LedgerChange
from domain.model import AvailabilityStatus, StockEvent, availability_status, available_quantity


@dataclass(frozen=True, slots=True)
class Bundle:
    id: int
    sku: str
    low_stock_threshold: int
    components: tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class Figures:
    """A bundle's SKU-wide figures as partners get them: sums over locations of bundle_levels;
    `reserved` is 0 there (the components carry holds)."""

    on_hand: int
    reserved: int
    available: int
    status: AvailabilityStatus


@dataclass(frozen=True, slots=True)
class Stock:
    """A component's level at one location, as far as a bundle's figures read it."""

    on_hand: int
    reserved: int
    safety_stock: int


Levels = Mapping[tuple[int, int], Stock]  # by (sku_id, location_id)


@dataclass(frozen=True, slots=True)
class Replayed:
    """The round's changes, each with the bundle figures it moved (LedgerChange.bundles), and
    every bundle's figures before the round: what its first change is compared with."""

    changes: list[LedgerChange]
    before: dict[int, Figures]


class _Running:
    """One bundle's figures while the round is replayed: per location (onHand, available) and
    their sums, a location recomputed when one of its components' levels there moves."""

    def __init__(self, bundle: Bundle, levels: Levels, locations: set[int]) -> None:
        self.bundle = bundle
        self.at = {location: _at(bundle.components, levels, location) for location in locations}
        self.on_hand = sum(on_hand for on_hand, _ in self.at.values())
        self.available = sum(available for _, available in self.at.values())

    def moved(self, levels: Levels, location: int) -> Figures:
        old_on_hand, old_available = self.at.get(location, (0, 0))
        on_hand, available = self.at[location] = _at(self.bundle.components, levels, location)
        self.on_hand += on_hand - old_on_hand
        self.available += available - old_available
        return self.figures()

    def figures(self) -> Figures:
        return Figures(self.on_hand, 0, self.available,
                       availability_status(self.available, self.bundle.low_stock_threshold))


def replay(changes: Sequence[LedgerChange], bundles: Sequence[Bundle], levels: Levels,
           sent: Mapping[int, Figures]) -> Replayed:
    """`changes` in the round's order; `bundles`: those made of their SKUs; `levels`: their
    components' levels as the sink has handed them on; `sent`: by bundle id, the figures the
    sink handed on last (a bundle missing there starts from its figures before the round)."""
    work = dict(levels)
    for change in reversed(changes):
        place, level = _place(change.sku_id, change.event), change.event.level
        if place is not None and level is not None:
            work[place] = Stock(level.on_hand - change.event.on_hand_delta,
                                level.reserved - change.event.reserved_delta, level.safety_stock)
    where: dict[int, set[int]] = {}
    for sku_id, location in work:
        where.setdefault(sku_id, set()).add(location)
    containing: dict[int, list[_Running]] = {}
    running = {}
    for bundle in sorted(bundles, key=lambda b: b.id):
        locations: set[int] = set().union(*(where.get(c.sku_id, set())
                                            for c in bundle.components))
        running[bundle.id] = _Running(bundle, work, locations)
        for component in bundle.components:
            containing.setdefault(component.sku_id, []).append(running[bundle.id])
    before = {b: sent.get(b) or r.figures() for b, r in running.items()}
    last = dict(before)
    out = []
    for change in changes:
        event, place = change.event, _place(change.sku_id, change.event)
        if place is None or event.level is None or change.sku_id not in containing:
            out.append(change)
            continue
        work[place] = Stock(event.level.on_hand, event.level.reserved, event.level.safety_stock)
        moved = []
        for figures in containing[change.sku_id]:
            now, was = figures.moved(work, place[1]), last[figures.bundle.id]
            if now != was:
                moved.append(_change(figures.bundle.sku, event, now, was))
                last[figures.bundle.id] = now
        out.append(replace(change, bundles=tuple(moved)) if moved else change)
    return Replayed(out, before)


def figures_of(change: AvailabilityChange) -> Figures:
    return Figures(change.on_hand, change.reserved, change.available, change.status)


def _at(components: Sequence[Component], levels: Levels, location: int) -> tuple[int, int]:
    """The bundle's (onHand, available) at one location: bundle_levels' row there."""
    found = {c.sku_id: levels[(c.sku_id, location)] for c in components
             if (c.sku_id, location) in levels}
    return (bundles_from({sku: s.on_hand for sku, s in found.items()}, components),
            bundles_from({sku: available_quantity(s.on_hand, s.reserved, s.safety_stock)
                          for sku, s in found.items()}, components))


def _place(sku_id: int, event: StockEvent) -> tuple[int, int] | None:
    return None if event.location_id is None else (sku_id, event.location_id)


def _change(bundle: str, cause: StockEvent, now: Figures, was: Figures) -> AvailabilityChange:
    return AvailabilityChange(
        sku=bundle, cause_sku=cause.sku, cause_sequence=cause.sequence, on_hand=now.on_hand,
        reserved=now.reserved, available=now.available, status=now.status,
        previous_available=was.available, previous_status=was.status,
        occurred_at=cause.occurred_at)
