"""The state machine's rules for on-hand stock: adjust, set (a count) and offline sales."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    rule,
)

from domain.model import (
    AdjustmentReason,
)
from domain.rules import Limits
from store import (
    levels,
    sales,
)
from tests.stock_model.machine import Machine
from tests.stock_model.state import (
    BUNDLE,
    CHANNELS,
    LOCATIONS,
    NOW,
    SKUS,
    Level,
    sku_codes,
    stocked,
    version_choices,
)


class StockRules(Machine):
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

