"""Model-based test: random interleavings of stock changes against a plain in-memory model.

Each step runs the real store function through Inventory.mutate on PostgreSQL; the model says
whether it must succeed or fail with which code, and afterwards the database must equal it.
Bundle K is made of plain SKUs and redefined now and then: its holds hold every component at
one location, carts sum its demand with plain lines', and a hold keeps what it was made with.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from domain.model import (
    AdjustmentReason,
    HeldComponent,
    LocationKind,
    TransferLine,
    TransferStatus,
)
from domain.outcome import Outcome
from domain.rules import Limits, merge_lines
from domain.transfers import merge_transfer_lines
from service.inventory import Inventory, Work
from service.recording import Command
from store import (
    bundles,
    carts,
    catalog,
    channels,
    database,
    incoming,
    levels,
    reservations,
    sales,
    split_holds,
    transfer_receipt,
    transfers,
)
from tests.ledger_checks import assert_channel_holds, assert_consistent

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


class StockMachine(RuleBasedStateMachine):
    runner: asyncio.Runner
    inventory: Inventory

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.location_ids = self.run(self._reset())

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    async def _reset(self) -> dict[str, int]:
        async with self.inventory.pool.acquire() as conn:
            await conn.execute(RESET)
            ids = {}
            for code in LOCATIONS:
                location = await catalog.upsert_location(conn, code, code, LocationKind.WAREHOUSE)
                ids[code] = location.id
            for code in SKUS:
                await catalog.upsert_sku(conn, code, f"SKU {code}", None)
            await bundles.upsert(conn, BUNDLE, "Kit", None, DEFINITIONS[0])
            for code, places in CHANNELS.items():
                await channels.upsert(conn, code, code, places)
            return ids

    def mutate(self, work: Work, name: str) -> Outcome:
        command = {"commit": Command.COMMIT, "release": Command.RELEASE}.get(name) or Command(name)
        outcome: Outcome = self.run(self.inventory.mutate(work, command=command, arguments={}))
        self.model.mutations += 1
        event(f"{name}: {code_of(outcome) or 'ok'}")  # see --hypothesis-show-statistics
        return outcome

    def expect(self, outcome: Outcome, code: str | None) -> None:
        assert code_of(outcome) == code, (outcome.error, code)

    def check_hold(self, outcome: Outcome, sku: str, location: str, quantity: int) -> None:
        """The reservation the outcome made; a bundle's with what it holds of each component
        and, as its level, the bundle's derived level there after the hold."""
        r = outcome.reservations[0]
        assert (r.sku, r.location_id, r.quantity) == (sku, self.location_ids[location], quantity)
        held = tuple(HeldComponent(c, q * quantity) for c, q in sorted(self.model.parts(sku)))
        assert r.components == (held if sku == BUNDLE else ())
        if sku == BUNDLE and outcome.level is not None:
            level = outcome.level
            assert (level.sku, level.reserved, level.safety_stock, level.version) == (BUNDLE, 0, 0, 0)
            assert level.available == self.model.fit(BUNDLE, location, self.model.free()) - quantity

    def _reservation(self, pick: int, unknown: bool, kits: bool = False) -> str:
        """One of the holds made (`kits`: a bundle's, if any), or an unknown id."""
        ids = list(self.model.holds)  # creation order: uuids would make replays differ
        if kits and any(self.model.holds[i].sku == BUNDLE for i in ids):
            ids = [i for i in ids if self.model.holds[i].sku == BUNDLE]
        return str(uuid.uuid4()) if unknown or not ids else ids[pick % len(ids)]

    @initialize(stock=st.lists(st.sampled_from((None, 0, 4, 8, 12, 12, 16)), min_size=6,
                               max_size=6))
    def stock_up(self, stock: list[int | None]) -> None:
        places = [(sku, location) for sku in SKUS for location in LOCATIONS]
        for (sku, location), on_hand in zip(places, stock, strict=True):
            if on_hand is not None:
                self.set_stock(sku, location, on_hand, None, None)

    @rule(sku=sku_codes, location=location_codes, quantity=quantities)
    def reserve(self, sku: str, location: str | None, quantity: int) -> None:
        outcome = self.mutate(
            lambda c: reservations.reserve(c, sku, location, quantity, TTL, None), "reserve"
        )
        if sku not in KNOWN or location not in (None, *LOCATIONS):
            return self.expect(outcome, "NOT_FOUND")
        chosen = self.model.pick(sku, location, quantity)
        self.expect(outcome, None if chosen else "INSUFFICIENT_STOCK")
        if chosen is not None:
            self.check_hold(outcome, sku, chosen, quantity)
            self.model.hold(outcome.reservations[0].id, sku, chosen, quantity)

    @rule(sku=sku_codes, channel=channel_codes, location=location_codes, quantity=quantities)
    def reserve_through(self, sku: str, channel: str, location: str | None, quantity: int) -> None:
        outcome = self.mutate(lambda c: reservations.reserve(
            c, sku, location, quantity, TTL, None, channel=channel), "reserve")
        if sku not in KNOWN or location not in (None, *LOCATIONS) or channel not in CHANNELS:
            return self.expect(outcome, "NOT_FOUND")
        if location is not None and location not in CHANNELS[channel]:
            return self.expect(outcome, "INVALID_INPUT")
        chosen = self.model.pick(sku, location, quantity, among=CHANNELS[channel])
        self.expect(outcome, None if chosen else "INSUFFICIENT_STOCK")
        if chosen is not None:
            self.check_hold(outcome, sku, chosen, quantity)
            self.model.hold(outcome.reservations[0].id, sku, chosen, quantity, channel)

    @rule(sku=stocked, channel=st.none() | st.sampled_from(tuple(CHANNELS)),
          quantity=st.integers(1, 16))
    def reserve_split(self, sku: str, channel: str | None, quantity: int) -> None:
        outcome = self.mutate(lambda c: split_holds.reserve_split(
            c, sku, quantity, TTL, None, channel=channel), "reserve")
        if sku == BUNDLE:  # held whole at one location
            assert outcome.error is not None and outcome.error.field == ["allowSplit"]
            return self.expect(outcome, "INVALID_INPUT")
        plan = self.model.split(sku, channel, quantity)
        self.expect(outcome, None if plan else "INSUFFICIENT_STOCK")
        if plan is not None:
            assert [(r.location_id, r.quantity) for r in outcome.reservations] == [
                (self.location_ids[p], q) for p, q in plan]
            for r, (p, q) in zip(outcome.reservations, plan, strict=True):
                self.model.hold(r.id, sku, p, q, channel)

    @rule(lines=st.lists(cart_lines, min_size=1, max_size=4), stray=stray_lines)
    def reserve_lines(
        self, lines: list[tuple[str, str | None, int]], stray: tuple[str, str | None, int] | None
    ) -> None:
        merged = merge_lines([*lines, stray] if stray else lines, Limits())
        outcome = self.mutate(lambda c: carts.reserve_lines(c, merged, TTL, None), "reserveLines")
        if any(ln.sku not in KNOWN or ln.location not in (None, *LOCATIONS) for ln in merged):
            return self.expect(outcome, "NOT_FOUND")
        chosen = self.model.cart(merged)
        if None in chosen.values():
            self.expect(outcome, "INSUFFICIENT_STOCK")
            assert outcome.error is not None
            assert [e.field for e in outcome.error.errors] == [
                ["lines", str(ln.index), "quantity"] for ln in merged if chosen[ln.index] is None]
            return
        self.expect(outcome, None)
        assert len(outcome.reservations) == len(merged)
        for line, r in zip(merged, outcome.reservations, strict=True):
            where = chosen[line.index]
            assert where is not None
            self.check_hold(Outcome(reservations=[r]), line.sku, where, line.quantity)
            self.model.hold(r.id, line.sku, where, line.quantity)

    @rule(definition=st.sampled_from(range(len(DEFINITIONS))))
    def redefine_bundle(self, definition: int) -> None:
        """Holds already taken keep what they hold; new ones take the new components."""
        async def define() -> None:
            async with self.inventory.pool.acquire() as conn, conn.transaction():
                await bundles.upsert(conn, BUNDLE, "Kit", None, DEFINITIONS[definition])
        self.run(define())
        self.model.bundle = DEFINITIONS[definition]

    @rule(location=location_codes, channel=st.none() | st.sampled_from(tuple(CHANNELS)),
          quantity=st.integers(1, 2))
    def reserve_kit(self, location: str | None, channel: str | None, quantity: int) -> None:
        """Few kits at a time, so that bundle holds are made often enough to be closed."""
        if channel is None:
            return self.reserve(BUNDLE, location, quantity)
        return self.reserve_through(BUNDLE, channel, location, quantity)

    @rule(pick=st.integers(0, 999), unknown=st.sampled_from((False,) * 5 + (True,)),
          committing=st.booleans(), kits=st.booleans())
    def close(self, pick: int, unknown: bool, committing: bool, kits: bool) -> None:
        reservation_id = self._reservation(pick, unknown, kits)
        close_fn, status = (
            (lambda c: reservations.commit(c, reservation_id, None), "COMMITTED") if committing
            else (lambda c: reservations.release(c, reservation_id), "RELEASED"))
        outcome = self.mutate(close_fn, "commit" if committing else "release")
        held = self.model.holds.get(reservation_id)
        if held is None:
            return self.expect(outcome, "NOT_FOUND")
        self.expect(outcome, None if held.status == "ACTIVE" else "RESERVATION_NOT_ACTIVE")
        if outcome.error is None:
            self.check_closed(outcome, reservation_id, status)
            self.model.close(reservation_id, status)

    def check_closed(self, outcome: Outcome, reservation_id: str, status: str) -> None:
        """The hold closed on what it held, whatever the bundle is made of now: one entry per
        component, each with the hold's id."""
        held = self.model.holds[reservation_id]
        r = outcome.reservations[0]
        assert (r.id, r.status.value) == (reservation_id, status)
        assert r.components == tuple(HeldComponent(c, units) for c, units in held.parts)
        assert [(e.sku, e.reservation_id, e.kind.value, e.reserved_delta) for e in outcome.events] == [
            (c, reservation_id, status, -units)
            for c, units in held.parts or ((held.sku, held.quantity),)]
        assert outcome.level is not None and outcome.level.sku == held.sku

    def refused_as_bundle(self, outcome: Outcome, sku: str) -> bool:
        """A bundle has no stock of its own: INVALID_INPUT on sku, naming its components."""
        if sku != BUNDLE:
            return False
        self.expect(outcome, "INVALID_INPUT")
        assert outcome.error is not None and outcome.error.field == ["sku"]
        assert all(c in outcome.error.message for c, _ in self.model.bundle)
        return True

    @rule(sku=stocked, location=st.sampled_from(LOCATIONS),
          delta=st.integers(-8, 8).filter(bool), correction=st.booleans())
    def adjust(self, sku: str, location: str, delta: int, correction: bool) -> None:
        reason = (AdjustmentReason.CORRECTION if correction
                  else AdjustmentReason.RESTOCK if delta > 0 else AdjustmentReason.SALE)
        outcome = self.mutate(
            lambda c: levels.adjust(c, sku, location, delta, reason, None, Limits().max_quantity),
            "adjustStock")
        if self.refused_as_bundle(outcome, sku):
            return
        level = self.model.levels.get((sku, location))
        if delta < 0 and (level is None or level.on_hand + delta < level.reserved):
            return self.expect(outcome, "INSUFFICIENT_STOCK")
        self.expect(outcome, None)
        if level is None:
            self.model.levels[sku, location] = Level(on_hand=delta)
            self.model.sequence[sku] += 1
        else:
            self.model.change(sku, location, on_hand=delta)

    @rule(sku=stocked, location=st.sampled_from(LOCATIONS),
          on_hand=st.integers(0, 15), safety=st.none() | st.integers(0, 3),
          version=version_choices)
    def set_stock(
        self, sku: str, location: str, on_hand: int, safety: int | None, version: str | int | None
    ) -> None:
        level = self.model.levels.get((sku, location))
        current = level.version if level else 0
        expected = {"current": current, "stale": current + 1 if current <= 1 else current - 1}.get(
            version, version)  # type: ignore[arg-type]
        outcome = self.mutate(lambda c: levels.set_stock(
            c, sku, location, on_hand, safety, expected, None), "setStock")
        if self.refused_as_bundle(outcome, sku):
            return
        if expected is not None and expected != current:
            return self.expect(outcome, "VERSION_CONFLICT")
        if level is not None and on_hand < level.reserved:
            return self.expect(outcome, "INSUFFICIENT_STOCK")
        self.expect(outcome, None)
        self.model.counted.add((sku, location))
        if level is None:
            self.model.levels[sku, location] = Level(on_hand=on_hand, safety=safety or 0)
            self.model.sequence[sku] += 1
            return
        self.model.change(sku, location, on_hand=on_hand - level.on_hand)
        level.safety = level.safety if safety is None else safety

    @rule(sku=sku_codes, location=st.sampled_from(LOCATIONS), quantity=st.integers(1, 10),
          before_count=st.booleans())
    def record_sale(self, sku: str, location: str, quantity: int, before_count: bool) -> None:
        """An offline sale: holds it uncovers moved (within their channel) or SHORTED, newest
        first; then min(quantity, on hand) off on hand, or nothing before a count."""
        when = NOW if before_count else datetime.now(UTC) + timedelta(hours=1)
        outcome = self.mutate(lambda c: sales.record_sale(c, sku, location, quantity, when, None),
                              "recordSales")
        if self.refused_as_bundle(outcome, sku):
            return
        if sku not in SKUS:
            return self.expect(outcome, "NOT_FOUND")
        self.expect(outcome, None)
        model = self.model
        if (sku, location) not in model.levels:
            model.levels[sku, location] = Level()
        level = model.levels[sku, location]
        counted = before_count and (sku, location) in model.counted
        taken = 0 if counted else min(quantity, level.on_hand)
        assert outcome.shortfall == (0 if counted else quantity - taken)
        for rid in model.newest_first():
            if level.reserved <= level.on_hand - taken:
                break
            held = model.holds[rid]
            parts = held.parts or ((held.sku, held.quantity),)
            if held.status != "ACTIVE" or held.location != location or sku not in dict(parts):
                continue
            free = model.free()
            places = [p for p in (CHANNELS[held.channel] if held.channel else LOCATIONS)
                      if p != location and all(free.get((c, p), -1) >= u for c, u in parts)]
            for component, units in parts:
                model.change(component, location, reserved=-units)
                if places:
                    model.change(component, places[0], reserved=units)
            held.status, held.location = ("ACTIVE", places[0]) if places else ("SHORTED", location)
            event(f"recordSales: {'moved' if places else 'shorted'} {held.sku == BUNDLE and 'kit' or 'plain'}")
        model.change(sku, location, on_hand=-taken)
        assert outcome.level is not None and outcome.level.on_hand == level.on_hand
        assert {r.id for r in outcome.reservations} <= set(model.holds)

    @rule(pick=st.integers(0, 999), kits=st.booleans())
    def expire(self, pick: int, kits: bool) -> None:
        active = [i for i, h in self.model.holds.items() if h.status == "ACTIVE"]
        if kits and any(self.model.holds[i].sku == BUNDLE for i in active):
            active = [i for i in active if self.model.holds[i].sku == BUNDLE]
        if not active:
            return self.expect(self.mutate(reservations.expire_next, "expire"), None)
        reservation_id = active[pick % len(active)]
        self.run(self.inventory.pool.execute(
            "UPDATE reservations SET expires_at = now() - interval '1 hour' WHERE id = $1::uuid",
            reservation_id))
        # Lapsed but not swept yet: it can no longer be committed, and nothing changes.
        late = self.mutate(lambda c: reservations.commit(c, reservation_id, None), "commit")
        self.expect(late, "RESERVATION_NOT_ACTIVE")
        outcome = self.mutate(reservations.expire_next, "expire")
        self.expect(outcome, None)
        self.check_closed(outcome, reservation_id, "EXPIRED")
        self.model.close(reservation_id, "EXPIRED")
        assert self.mutate(reservations.expire_next, "expire").reservations == []

    @rule(sku=sku_codes, location=st.sampled_from(LOCATIONS), quantity=quantities)
    def expect_incoming(self, sku: str, location: str, quantity: int) -> None:
        outcome = self.mutate(lambda c: incoming.expect(
            c, sku, location, quantity, NOW, None, Limits().max_quantity), "expectIncoming")
        if self.refused_as_bundle(outcome, sku):
            return
        if sku not in SKUS:
            return self.expect(outcome, "NOT_FOUND")
        self.expect(outcome, None)
        assert outcome.incoming is not None
        self.model.add_incoming(sku, location, quantity)
        self.model.incoming[outcome.incoming.id] = Expected(sku, location, quantity)

    def _incoming(self, pick: int, unknown: bool) -> str:
        ids = list(self.model.incoming)
        return str(uuid.uuid4()) if unknown or not ids else ids[pick % len(ids)]

    @rule(pick=st.integers(0, 999), unknown=st.sampled_from((False,) * 5 + (True,)),
          quantity=st.none() | st.integers(1, 7))
    def receive_incoming(self, pick: int, unknown: bool, quantity: int | None) -> None:
        incoming_id = self._incoming(pick, unknown)
        outcome = self.mutate(lambda c: incoming.receive(
            c, incoming_id, quantity, Limits().max_quantity), "receiveIncoming")
        found = self.model.incoming.get(incoming_id)
        if found is None:
            return self.expect(outcome, "NOT_FOUND")
        if found.transfer or found.status != "EXPECTED":
            return self.expect(outcome, "INVALID_STATE")
        open_quantity = found.quantity - found.received
        received = open_quantity if quantity is None else quantity
        if received > open_quantity:
            return self.expect(outcome, "INVALID_QUANTITY")
        self.expect(outcome, None)
        found.received += received
        found.status = "RECEIVED" if found.received == found.quantity else "EXPECTED"
        self.model.change(found.sku, found.location, on_hand=received, incoming=-received)

    @rule(pick=st.integers(0, 999), unknown=st.sampled_from((False,) * 5 + (True,)))
    def cancel_incoming(self, pick: int, unknown: bool) -> None:
        incoming_id = self._incoming(pick, unknown)
        outcome = self.mutate(lambda c: incoming.cancel(c, incoming_id), "cancelIncoming")
        found = self.model.incoming.get(incoming_id)
        if found is None:
            return self.expect(outcome, "NOT_FOUND")
        if found.transfer or found.status != "EXPECTED":
            return self.expect(outcome, "INVALID_STATE")
        self.expect(outcome, None)
        found.status = "CANCELLED"
        self.model.change(found.sku, found.location, incoming=-(found.quantity - found.received))

    @rule(ends=transfer_ends, lines=transfer_lines)
    def ship_transfer(self, ends: tuple[str, str], lines: list[tuple[str, int]]) -> None:
        source, to = ends
        merged = merge_transfer_lines(lines, Limits())
        outcome = self.mutate(lambda c: transfers.ship(
            c, source, to, merged, None, None, Limits().max_quantity), "shipTransfer")
        if source not in LOCATIONS or to not in LOCATIONS or any(
                line.sku not in SKUS for line in merged):
            return self.expect(outcome, "NOT_FOUND")
        if any((self.model.available(line.sku, source) or 0) < line.quantity for line in merged):
            return self.expect(outcome, "INSUFFICIENT_STOCK")
        self.expect(outcome, None)
        shipped = outcome.transfer
        assert shipped is not None and shipped.status is TransferStatus.IN_TRANSIT
        assert (shipped.from_location_id, shipped.to_location_id) == (
            self.location_ids[source], self.location_ids[to])
        assert list(shipped.lines) == [TransferLine(line.sku, line.quantity) for line in merged]
        ids = {r["sku"]: r["id"] for r in self.run(self.inventory.pool.fetch(
            """SELECT i.id::text AS id, s.code AS sku FROM incoming i JOIN skus s ON s.id = sku_id
               WHERE transfer_id = $1::uuid""", shipped.id))}
        for line in sorted(merged, key=lambda line: SKUS.index(line.sku)):  # the ledger's order
            self.model.change(line.sku, source, on_hand=-line.quantity)
            self.model.add_incoming(line.sku, to, line.quantity)
            self.model.incoming[ids[line.sku]] = Expected(line.sku, to, line.quantity, transfer=True)
        self.model.transfers[shipped.id] = Moving(
            source, to, {line.sku: [line.quantity, 0] for line in merged}, ids)

    def _transfer(self, pick: int, unknown: bool) -> str:
        ids = list(self.model.transfers)
        return str(uuid.uuid4()) if unknown or not ids else ids[pick % len(ids)]

    def _settled(self, found: Moving, status: str) -> None:
        found.status = status
        for sku, (_, received) in found.lines.items():
            settled = self.model.incoming[found.incoming[sku]]
            settled.status, settled.received = status, received

    @precondition(lambda self: self.model.transfers)  # else every call is NOT_FOUND
    @rule(pick=st.integers(0, 999), unknown=st.sampled_from((False,) * 5 + (True,)),
          whole=st.booleans(), data=st.data())
    def receive_transfer(self, pick: int, unknown: bool, whole: bool, data: st.DataObject) -> None:
        transfer_id = self._transfer(pick, unknown)
        found = self.model.transfers.get(transfer_id)
        lines = None if whole else data.draw(st.lists(st.tuples(  # mostly SKUs it carries
            st.sampled_from([*(found.lines if found else SKUS)] * 4 + ["NOPE", "C"]),
            st.integers(0, 4)), max_size=3))
        receipt = None if lines is None else merge_transfer_lines(lines, Limits(), receipt=True)
        outcome = self.mutate(lambda c: transfer_receipt.receive(
            c, transfer_id, receipt, Limits().max_quantity), "receiveTransfer")
        if found is None:
            return self.expect(outcome, "NOT_FOUND")
        if found.status != "IN_TRANSIT":
            return self.expect(outcome, "INVALID_STATE")
        arrived = {sku: 0 if receipt is not None else q for sku, (q, _) in found.lines.items()}
        for line in receipt or ():
            if line.sku not in found.lines:
                return self.expect(outcome, "INVALID_INPUT")
            if line.quantity > found.lines[line.sku][0]:
                return self.expect(outcome, "INVALID_QUANTITY")
            arrived[line.sku] = line.quantity
        self.expect(outcome, None)
        for sku in sorted(found.lines, key=SKUS.index):
            quantity, received = found.lines[sku][0], arrived[sku]
            if received:
                self.model.change(sku, found.to, on_hand=received, incoming=-received)
            if quantity - received:
                self.model.change(sku, found.to, incoming=received - quantity)
            found.lines[sku][1] = received
        self._settled(found, "RECEIVED")

    @precondition(lambda self: self.model.transfers)
    @rule(pick=st.integers(0, 999), unknown=st.sampled_from((False,) * 5 + (True,)))
    def cancel_transfer(self, pick: int, unknown: bool) -> None:
        transfer_id = self._transfer(pick, unknown)
        outcome = self.mutate(lambda c: transfer_receipt.cancel(
            c, transfer_id, Limits().max_quantity), "cancelTransfer")
        found = self.model.transfers.get(transfer_id)
        if found is None:
            return self.expect(outcome, "NOT_FOUND")
        if found.status != "IN_TRANSIT":
            return self.expect(outcome, "INVALID_STATE")
        self.expect(outcome, None)
        for sku in sorted(found.lines, key=SKUS.index):
            self.model.change(sku, found.source, on_hand=found.lines[sku][0])
            self.model.change(sku, found.to, incoming=-found.lines[sku][0])
        self._settled(found, "CANCELLED")

    @invariant()
    def database_equals_model(self) -> None:
        self.run(self._compare())

    async def _compare(self) -> None:
        pool = self.inventory.pool
        found = {(r["sku"], r["location"]): Level(*r[2:]) for r in await pool.fetch(
            """SELECT s.code AS sku, l.code AS location, on_hand, reserved, safety_stock, version,
                      incoming
               FROM stock_levels JOIN skus s ON s.id = sku_id JOIN locations l ON l.id = location_id""")}
        assert found == self.model.levels
        holds = {r["id"]: Held(*r[1:6], tuple(zip(r["parts"], r["units"], strict=True)))
                 for r in await pool.fetch(
            """SELECT r.id::text AS id, s.code, l.code, quantity, status, c.code,
                      ARRAY(SELECT k.code FROM reservation_components rc JOIN skus k
                            ON k.id = rc.sku_id WHERE rc.reservation_id = r.id
                            ORDER BY k.code) AS parts,
                      ARRAY(SELECT rc.quantity FROM reservation_components rc JOIN skus k
                            ON k.id = rc.sku_id WHERE rc.reservation_id = r.id
                            ORDER BY k.code) AS units
               FROM reservations r
               JOIN skus s ON s.id = sku_id JOIN locations l ON l.id = location_id
               LEFT JOIN channels c ON c.id = r.channel_id""")}
        assert holds == self.model.holds
        expected = {r["id"]: Expected(*r[1:]) for r in await pool.fetch(
            """SELECT i.id::text AS id, s.code, l.code, quantity, received, status,
                      source = 'TRANSFER' FROM incoming i
               JOIN skus s ON s.id = sku_id JOIN locations l ON l.id = location_id""")}
        assert expected == self.model.incoming
        moving = {r["id"]: Moving(r["source"], r["to"], {
            sku: [q, n] for sku, q, n in zip(r["skus"], r["quantities"], r["received"], strict=True)
        }, {sku: i for sku, i in zip(r["skus"], r["incoming"], strict=True)}, r["status"])
            for r in await pool.fetch(
            """SELECT t.id::text AS id, f.code AS source, d.code AS to, t.status,
                      array_agg(s.code ORDER BY l.position) AS skus,
                      array_agg(l.quantity ORDER BY l.position) AS quantities,
                      array_agg(l.received ORDER BY l.position) AS received,
                      array_agg(i.id::text ORDER BY l.position) AS incoming
               FROM transfers t JOIN locations f ON f.id = t.from_location_id
               JOIN locations d ON d.id = t.to_location_id
               JOIN transfer_lines l ON l.transfer_id = t.id JOIN skus s ON s.id = l.sku_id
               JOIN incoming i ON i.transfer_id = t.id AND i.sku_id = l.sku_id
               GROUP BY t.id, f.code, d.code""")}
        assert moving == self.model.transfers
        sequence = {r["code"]: r["last_sequence"] for r in await pool.fetch(
            "SELECT code, last_sequence FROM skus")}
        assert sequence == self.model.sequence
        await assert_consistent(pool)
        await assert_channel_holds(pool)


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def model_url(pg_url: str, template_url: str) -> Iterator[str]:
    """A database of its own, cloned from the migrated template (a sync twin of database_url)."""
    name = f"inv_model_{uuid.uuid4().hex[:12]}"
    template = urlsplit(template_url).path.lstrip("/")
    asyncio.run(_admin(pg_url, f"CREATE DATABASE {name} TEMPLATE {template}"))
    yield urlunsplit(urlsplit(pg_url)._replace(path=f"/{name}"))
    asyncio.run(_admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_random_interleavings_match_the_model(model_url: str) -> None:
    with asyncio.Runner() as runner:
        pool = runner.run(database.create_pool(model_url, min_size=1, max_size=2))
        try:
            StockMachine.runner = runner
            StockMachine.inventory = Inventory(pool=pool, limits=Limits())
            run_state_machine_as_test(StockMachine, settings=settings(
                max_examples=int(os.environ.get("MODEL_EXAMPLES", "50")), stateful_step_count=30,
                deadline=None))
        finally:
            runner.run(pool.close())
