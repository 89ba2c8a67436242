"""A chaos-test subscriber: follows one SKU's stockEvents on one instance over
graphql-transport-ws, resuming with afterSequence whenever it is cut off, and keeps every
sequence it received in order (tests/chaos/test_chaos.py checks them against the ledger)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import aiohttp

from tests.chaos.cluster import Instance
from tests.conftest import ADMIN

EVENTS = """subscription($sku: String!, $after: Int) {
  stockEvents(sku: $sku, afterSequence: $after) { sequence kind } }"""


class Subscriber:
    def __init__(self, instance: Instance, sku: str, session: aiohttp.ClientSession) -> None:
        self.instance = instance
        self.sku = sku
        self.session = session
        self.seen: list[int] = []
        self.connects = 0
        self.ends: Counter[str] = Counter()  # why each stream ended
        self.progress = asyncio.Event()

    @property
    def last(self) -> int:
        return self.seen[-1] if self.seen else 0

    async def run(self) -> None:
        while True:
            await self.instance.up.wait()
            try:
                self.ends[await self._follow()] += 1
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
                self.ends[type(error).__name__] += 1
            await asyncio.sleep(0.1)

    async def _follow(self) -> str:
        async with self.session.ws_connect(
            self.instance.ws_url, protocols=["graphql-transport-ws"], headers=ADMIN,
            timeout=aiohttp.ClientWSTimeout(ws_close=2),
        ) as ws:
            await ws.send_json({"type": "connection_init", "payload": {}})
            ack = await ws.receive_json(timeout=5)
            if ack.get("type") != "connection_ack":
                return f"no ack: {ack}"
            self.connects += 1
            await ws.send_json({"id": "1", "type": "subscribe", "payload": {
                "query": EVENTS, "variables": {"sku": self.sku, "after": self.last}}})
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    return f"socket {message.type.name}"
                data = json.loads(message.data)
                kind = data.get("type")
                if kind == "ping":
                    await ws.send_json({"type": "pong"})
                elif kind == "next":
                    result = data["payload"]
                    if result.get("errors"):
                        code = (result["errors"][0].get("extensions") or {}).get("code")
                        return f"error {code}"
                    event = result["data"]["stockEvents"]
                    if event["kind"] != "SNAPSHOT":
                        self.seen.append(event["sequence"])
                        self.progress.set()
                elif kind in ("error", "complete"):
                    return str(kind)
            return f"closed {ws.close_code}"

    def problems(self, seen: list[int], floor: int, ceiling: int) -> list[str]:
        """Each loss, duplicate or disorder in `seen` (what this subscriber had received when
        the ledger head was `ceiling`; holds keep expiring on the instances, so the head may
        have moved past `floor`, the head every subscriber was waited for)."""
        expected = list(range(1, max(floor, min(len(seen), ceiling)) + 1))
        if seen == expected:
            return []
        missing = sorted(set(expected) - set(seen))
        counts = Counter(seen)
        duplicates = sorted(s for s, n in counts.items() if n > 1)
        disorder = [b for a, b in zip(seen, seen[1:], strict=False) if b <= a]
        return [f"{self.instance.name}/{self.sku}: {len(seen)} received of "
                f"{floor}..{ceiling}; missing {missing[:20]}, duplicates {duplicates[:20]}, "
                f"out of order {disorder[:20]}, beyond the ledger "
                f"{sorted(s for s in set(seen) if s > ceiling)[:20]}"]
