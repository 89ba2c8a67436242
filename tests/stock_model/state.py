"""The plain in-memory model of tests/integration/test_model.py: levels, holds, incoming and
transfers, and what each change does to them (the machine's rules ask it what must happen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from domain.outcome import Outcome

SKUS = ("A", "B", "C")  # created in this order
BUNDLE = "K"  # created after them
DEFINITIONS = ((("A", 1), ("B", 2)), (("B", 1), ("C", 2)))  # K's components, one at a time
KNOWN = (*SKUS, BUNDLE)
LOCATIONS = ("L1", "L2")  # created in this order: L1 wins ties
TTL = 3600
NOW = datetime.now(UTC)
RESET = """TRUNCATE stock_events, reservations, stock_levels, idempotency_keys, skus, locations,
           channel_locations, channels RESTART IDENTITY CASCADE"""
CHANNELS = {"C21": ("L2", "L1"), "C1": ("L1",)}  # sourcing priority first
channel_codes = st.sampled_from((*CHANNELS, *CHANNELS, "NOPE"))

sku_codes = st.sampled_from(SKUS * 3 + (BUNDLE, BUNDLE, "NOPE"))
stocked = st.sampled_from(SKUS * 3 + (BUNDLE,))
location_codes = st.sampled_from((None,) * 4 + LOCATIONS * 2 + ("L9",))
cart_lines = st.tuples(st.sampled_from(KNOWN), st.sampled_from((None, *LOCATIONS)), st.integers(1, 6))
stray_lines = st.sampled_from((None,) * 6 + (("NOPE", None, 1), ("A", "L9", 1)))
quantities = st.integers(1, 6)
version_choices = st.sampled_from((None, "current", "current", "stale", 0))
transfer_ends = st.sampled_from((("L1", "L2"), ("L2", "L1")) * 4 + (("L9", "L1"), ("L2", "L9")))
transfer_lines = st.lists(st.tuples(st.sampled_from(SKUS * 6 + ("NOPE",)), st.integers(1, 4)),
                          min_size=1, max_size=3)


@dataclass
class Level:
    on_hand: int = 0
    reserved: int = 0
    safety: int = 0
    version: int = 1
    incoming: int = 0

    @property
    def free(self) -> int:
        return self.on_hand - self.reserved - self.safety


@dataclass
class Held:
    sku: str
    location: str
    quantity: int
    status: str = "ACTIVE"
    channel: str | None = None
    parts: tuple[tuple[str, int], ...] = ()  # a bundle hold's (component, units), by code
    made: int = field(default=0, compare=False)  # its transaction: holds made together tie


@dataclass
class Expected:
    sku: str
    location: str
    quantity: int
    received: int = 0
    status: str = "EXPECTED"
    transfer: bool = False  # settled only by its transfer


@dataclass
class Moving:
    """A transfer: what each SKU line shipped and received, and its lines' incoming ids."""

    source: str
    to: str
    lines: dict[str, list[int]]  # SKU -> [quantity, received], in shipping order
    incoming: dict[str, str]
    status: str = "IN_TRANSIT"


@dataclass
class Model:
    levels: dict[tuple[str, str], Level] = field(default_factory=dict)
    holds: dict[str, Held] = field(default_factory=dict)
    incoming: dict[str, Expected] = field(default_factory=dict)
    transfers: dict[str, Moving] = field(default_factory=dict)
    sequence: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KNOWN, 0))
    bundle: tuple[tuple[str, int], ...] = DEFINITIONS[0]
    counted: set[tuple[str, str]] = field(default_factory=set)  # levels a SET ever counted
    mutations: int = 0  # transactions run so far (a hold's created_at is its transaction's)

    def parts(self, sku: str) -> tuple[tuple[str, int], ...]:
        return self.bundle if sku == BUNDLE else ((sku, 1),)

    def free(self) -> dict[tuple[str, str], int]:
        return {key: max(0, level.free) for key, level in self.levels.items()}

    def fit(self, sku: str, location: str, free: dict[tuple[str, str], int]) -> int:
        """Whole units (bundles) of `sku` that `free` has at `location`."""
        parts = self.parts(sku)
        if any((c, location) not in free for c, _ in parts):
            return 0
        return min(max(0, free[c, location]) // q for c, q in parts)

    def pick(self, sku: str, location: str | None, quantity: int,
             free: dict[tuple[str, str], int] | None = None,
             among: tuple[str, ...] | None = None) -> str | None:
        """Named: it if it can hold it all; through a channel: the first that can; else the
        one with the most (ties: L1, the older)."""
        free = self.free() if free is None else free
        places = [location] if location else list(among or LOCATIONS)
        fits = [p for p in places if self.fit(sku, p, free) >= quantity]
        if among and not location:
            return fits[0] if fits else None
        return max(fits, key=lambda p: (self.fit(sku, p, free), -LOCATIONS.index(p)), default=None)

    def change(self, sku: str, location: str, on_hand: int = 0, reserved: int = 0,
               incoming: int = 0) -> None:
        level = self.levels[sku, location]
        level.on_hand += on_hand
        level.reserved += reserved
        level.incoming += incoming
        level.version += 1
        self.sequence[sku] += 1

    def add_incoming(self, sku: str, location: str, quantity: int) -> None:
        """Expected stock arrives on the books: a level that did not exist starts with it."""
        if (sku, location) in self.levels:
            return self.change(sku, location, incoming=quantity)
        self.levels[sku, location] = Level(incoming=quantity)
        self.sequence[sku] += 1

    def hold(self, reservation_id: str, sku: str, location: str, quantity: int,
             channel: str | None = None) -> None:
        held = tuple(sorted((c, q * quantity) for c, q in self.parts(sku)))
        for component, units in held:
            self.change(component, location, reserved=units)
        self.holds[reservation_id] = Held(sku, location, quantity, channel=channel,
                                          parts=held if sku == BUNDLE else (),
                                          made=self.mutations)

    def newest_first(self) -> list[str]:
        """As a sale takes holds: newest transaction first, then by id (descending), which
        is how the database breaks the tie of the holds one cart or split made together."""
        return sorted(self.holds, key=lambda rid: (self.holds[rid].made, rid), reverse=True)

    def available(self, sku: str, location: str) -> int | None:
        level = self.levels.get((sku, location))
        return max(0, level.free) if level is not None else None

    def split(self, sku: str, channel: str | None, quantity: int) -> list[tuple[str, int]] | None:
        """allowSplit's plan: one location if any can hold it all, else filled in order."""
        places = [p for p in (CHANNELS[channel] if channel else LOCATIONS)
                  if self.available(sku, p) is not None]
        if channel is None:
            places.sort(key=lambda p: (-(self.available(sku, p) or 0), LOCATIONS.index(p)))
        whole = next((p for p in places if (self.available(sku, p) or 0) >= quantity), None)
        if whole is not None:
            return [(whole, quantity)]
        plan, left = [], quantity
        for p in places:
            take = min(self.available(sku, p) or 0, left)
            if take > 0:
                plan.append((p, take))
                left -= take
        return plan if left == 0 else None

    def cart(self, lines: list[Any]) -> dict[int, str | None]:
        """Where each merged line goes: located lines' demand summed per component and
        location first (each line adding to a short level fails), then each other line in
        order picks from what is left."""
        free = self.free()
        located: dict[tuple[str, str], int] = {}
        for line in lines:
            for c, q in self.parts(line.sku) if line.location else ():
                located[c, line.location] = located.get((c, line.location), 0) + q * line.quantity
        short = {key for key, units in located.items() if units > free.get(key, 0)}
        left = dict(free)
        for key, units in located.items():
            left[key] = left.get(key, 0) - units
        chosen: dict[int, str | None] = {}
        for line in lines:
            if line.location:
                fails = any((c, line.location) in short for c, _ in self.parts(line.sku))
                chosen[line.index] = None if fails else line.location
                continue
            chosen[line.index] = where = self.pick(line.sku, None, line.quantity, left)
            for c, q in self.parts(line.sku) if where else ():
                left[c, where] -= q * line.quantity
        return chosen

    def close(self, reservation_id: str, status: str) -> None:
        held = self.holds[reservation_id]
        held.status = status
        for sku, units in held.parts or ((held.sku, held.quantity),):
            sold = units if status == "COMMITTED" else 0
            self.change(sku, held.location, on_hand=-sold, reserved=-units)


def code_of(outcome: Outcome) -> str | None:
    return outcome.error.code if outcome.error is not None else None

