"""The state machine's frame: the database reset, a step run through Inventory.mutate, the
checks every rule uses, and the invariant that the database equals the model."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
)

from domain.model import (
    HeldComponent,
    LocationKind,
)
from domain.outcome import Outcome
from service.inventory import Inventory, Work
from service.recording import Command
from store import (
    bundles,
    catalog,
    channels,
)
from tests.ledger_checks import assert_channel_holds, assert_consistent
from tests.stock_model.state import (
    BUNDLE,
    CHANNELS,
    DEFINITIONS,
    LOCATIONS,
    RESET,
    SKUS,
    Expected,
    Held,
    Level,
    Model,
    Moving,
    code_of,
)


class Machine(RuleBasedStateMachine):
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

