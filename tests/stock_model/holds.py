"""The state machine's rules for holds: reserve (at a location, through a channel, split),
carts, bundle holds and redefinitions, commit, release and expiry."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import (
    rule,
)

from domain.outcome import Outcome
from domain.rules import Limits, merge_lines
from store import (
    bundles,
    carts,
    reservations,
    split_holds,
)
from tests.stock_model.machine import Machine
from tests.stock_model.state import (
    BUNDLE,
    CHANNELS,
    DEFINITIONS,
    KNOWN,
    LOCATIONS,
    TTL,
    cart_lines,
    channel_codes,
    location_codes,
    quantities,
    sku_codes,
    stocked,
    stray_lines,
)


class HoldRules(Machine):
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

