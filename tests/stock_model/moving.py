"""The state machine's rules for stock on its way: incoming (expect, receive, cancel) and
transfers (ship, receive, cancel)."""

from __future__ import annotations

import uuid

from hypothesis import strategies as st
from hypothesis.stateful import (
    precondition,
    rule,
)

from domain.model import (
    TransferLine,
    TransferStatus,
)
from domain.rules import Limits
from domain.transfers import merge_transfer_lines
from store import (
    incoming,
    transfer_receipt,
    transfers,
)
from tests.stock_model.machine import Machine
from tests.stock_model.state import (
    LOCATIONS,
    NOW,
    SKUS,
    Expected,
    Moving,
    quantities,
    sku_codes,
    transfer_ends,
    transfer_lines,
)


class MovingRules(Machine):
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

