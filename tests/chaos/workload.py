"""The chaos test's clients: reserve, reserveLines, commit, release and adjust against random
instances, retrying a lost answer with the same idempotency key, and the record of what was
acknowledged (tests/chaos/test_chaos.py runs them and checks the record against the database)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.chaos.cluster import Instance
from tests.conftest import ADMIN

SKUS = ["CH-1", "CH-2", "CH-3", "CH-4"]
LOCATIONS = ["CW-A", "CW-B"]
RESERVE = """mutation($i: ReserveInput!) { reserve(input: $i) {
  reservation { id reference } userErrors { code } } }"""
RESERVE_LINES = """mutation($i: ReserveLinesInput!) { reserveLines(input: $i) {
  reservations { id reference } userErrors { code } } }"""
COMMIT = """mutation($i: CommitReservationInput!) { commitReservation(input: $i) {
  reservation { id status } userErrors { code } } }"""
RELEASE = """mutation($i: ReleaseReservationInput!) { releaseReservation(input: $i) {
  reservation { id status } userErrors { code } } }"""
ADJUST = """mutation($i: AdjustStockInput!) { adjustStock(input: $i) {
  level { onHand } userErrors { code } } }"""
ATTEMPTS = 5
LOST_ANSWERS = 0.08  # share of answers the client drops, as a cut link would after the commit


@dataclass
class Record:
    """What the clients were told. Unknown: no answer came after every retry, so the change
    may or may not have happened (at most once)."""

    reserves: dict[str, set[str]] = field(default_factory=dict)  # reference -> ids acked
    reserves_unknown: dict[str, int] = field(default_factory=dict)  # reference -> line count
    adjusts: set[str] = field(default_factory=set)  # reference
    adjusts_unknown: set[str] = field(default_factory=set)
    commits: set[str] = field(default_factory=set)  # reservation id
    releases: set[str] = field(default_factory=set)
    holds: list[str] = field(default_factory=list)  # acked, not yet committed or released
    ops: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # userErrors codes
    failures: Counter[str] = field(default_factory=Counter)  # transport or GraphQL errors
    retried: int = 0
    dropped: int = 0  # answers received and then treated as lost (the retry must replay them)

    def summary(self) -> str:
        acked = sum(len(ids) for ids in self.reserves.values())
        return (f"operations {dict(self.ops)}; acknowledged: {acked} holds in "
                f"{len(self.reserves)} requests, {len(self.adjusts)} adjustments, "
                f"{len(self.commits)} commits, {len(self.releases)} releases; unanswered: "
                f"{len(self.reserves_unknown)} reserves, {len(self.adjusts_unknown)} "
                f"adjustments; {self.dropped} answers dropped, retries {self.retried}; refusals {dict(self.refused)}; "
                f"failed attempts {dict(self.failures)}")


class Client:
    def __init__(self, instances: Sequence[Instance], record: Record, rng: random.Random,
                 session: aiohttp.ClientSession) -> None:
        self.instances = instances
        self.record = record
        self.rng = rng
        self.session = session

    async def send(self, query: str, field_name: str, i: dict[str, Any]) -> Any:
        """The payload, or None when no answer came; every retry sends the same input (and
        so the same idempotency key) to a random instance that is up."""
        for attempt in range(ATTEMPTS):
            if attempt:
                self.record.retried += 1
                await asyncio.sleep(0.1 * attempt)
            up = [n for n in self.instances if n.up.is_set()] or list(self.instances)
            instance = self.rng.choice(up)
            try:
                async with self.session.post(
                    instance.url, json={"query": query, "variables": {"i": i}}, headers=ADMIN,
                    timeout=aiohttp.ClientTimeout(total=8),
                ) as response:
                    body = await response.json(content_type=None)
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                self.record.failures[type(error).__name__] += 1
                continue
            if status == 200 and isinstance(body, dict) and not body.get("errors"):
                if attempt + 1 < ATTEMPTS and self.rng.random() < LOST_ANSWERS:
                    self.record.dropped += 1
                    continue
                return body["data"][field_name]
            errors = body.get("errors") if isinstance(body, dict) else None
            code = (errors[0].get("extensions") or {}).get("code") if errors else None
            self.record.failures[f"{status} {code}"] += 1
        return None

    def _codes(self, payload: Any) -> bool:
        """True when the payload has no userErrors; counts the ones it has."""
        for error in payload["userErrors"]:
            self.record.refused[error["code"]] += 1
        return not payload["userErrors"]

    async def reserve(self) -> None:
        ref = f"r-{uuid.uuid4()}"
        i = {"sku": self.rng.choice(SKUS), "location": self.rng.choice(LOCATIONS),
             "quantity": self.rng.randint(1, 3), "ttlSeconds": self.rng.choice([2, 60, 600]),
             "idempotencyKey": ref, "reference": ref}
        payload = await self.send(RESERVE, "reserve", i)
        if payload is None:
            self.record.reserves_unknown[ref] = 1
        elif self._codes(payload):
            held = payload["reservation"]["id"]
            self.record.reserves[ref] = {held}
            self.record.holds.append(held)

    async def reserve_lines(self) -> None:
        ref = f"l-{uuid.uuid4()}"
        pairs = self.rng.sample([(s, loc) for s in SKUS for loc in LOCATIONS], 2)
        lines = [{"sku": s, "location": loc, "quantity": self.rng.randint(1, 2)}
                 for s, loc in pairs]
        i = {"lines": lines, "ttlSeconds": 600, "idempotencyKey": ref, "reference": ref}
        payload = await self.send(RESERVE_LINES, "reserveLines", i)
        if payload is None:
            self.record.reserves_unknown[ref] = len(lines)
        elif self._codes(payload):
            held = {r["id"] for r in payload["reservations"]}
            self.record.reserves[ref] = held
            self.record.holds.extend(held)

    def _take_hold(self) -> str | None:
        holds = self.record.holds
        return holds.pop(self.rng.randrange(len(holds))) if holds else None

    async def commit(self) -> None:
        if (held := self._take_hold()) is None:
            return
        i = {"reservationId": held, "idempotencyKey": f"c-{held}"}
        payload = await self.send(COMMIT, "commitReservation", i)
        if payload is not None and self._codes(payload):
            self.record.commits.add(held)

    async def release(self) -> None:
        if (held := self._take_hold()) is None:
            return
        payload = await self.send(RELEASE, "releaseReservation", {"reservationId": held})
        if payload is not None and self._codes(payload):
            self.record.releases.add(held)

    async def adjust(self) -> None:
        ref = f"a-{uuid.uuid4()}"
        sale = self.rng.random() < 0.3
        i = {"sku": self.rng.choice(SKUS), "location": self.rng.choice(LOCATIONS),
             "delta": -self.rng.randint(1, 2) if sale else self.rng.randint(1, 6),
             "reason": "SALE" if sale else "RESTOCK", "idempotencyKey": ref, "reference": ref}
        payload = await self.send(ADJUST, "adjustStock", i)
        if payload is None:
            self.record.adjusts_unknown.add(ref)
        elif self._codes(payload):
            self.record.adjusts.add(ref)

    async def run(self, stop: asyncio.Event) -> None:
        operations = [self.reserve, self.reserve_lines, self.commit, self.release, self.adjust]
        weights = [35, 15, 15, 10, 25]
        while not stop.is_set():
            operation = self.rng.choices(operations, weights)[0]
            self.record.ops[operation.__name__] += 1
            await operation()
