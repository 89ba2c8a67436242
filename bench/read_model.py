"""The read model's side of the reads bench (bench/reads.py): warming it, its hit ratio from
/metrics, and its staleness: a commit on instance A until a read on instance B shows it."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import orjson

from bench.harness import Harness, Row
from bench.http import GraphQLClient
from bench.measure import latency_ms
from bench.pg import LOCATION, sku_code
from bench.serverproc import Server

CHUNK = 500
SKU = "query($c: String!) { sku(code: $c) { sequence onHand } }"
ADJUST = """mutation($i: AdjustStockInput!) { adjustStock(input: $i) { userErrors { code } } }"""
WARM = "query($c: [String!]!) { skusByCode(codes: $c) { code } }"


async def read_counts(port: int) -> dict[str, float]:
    """inventory_read_model_reads_total by outcome and the losses by cause ("lost_<cause>"),
    summed over the workers."""
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    found = {"hit": 0.0, "miss": 0.0}
    for outcome, value in re.findall(
            r'^inventory_read_model_reads_total\{outcome="(\w+)"\} ([0-9.e+]+)$', text, re.M):
        found[outcome] += float(value)
    for cause, value in re.findall(  # entries dropped: why a warm read model misses
            r'^inventory_read_model_losses_total\{cause="(\w+)"\} ([0-9.e+]+)$', text, re.M):
        found[f"lost_{cause}"] = found.get(f"lost_{cause}", 0.0) + float(value)
    return found


def hit_ratio(before: dict[str, float], after: dict[str, float]) -> float:
    hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
    return round(hits / (hits + misses), 3) if hits + misses else 0.0


async def kept(port: int) -> float:
    """inventory_read_model_skus: the SKUs every live worker's read model keeps, summed."""
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return sum(float(v) for v in re.findall(r"^inventory_read_model_skus(?:\{[^}]*\})? "
                                            r"([0-9.e+]+)$", text, re.M))


async def warm(h: Harness, server: Server, skus: int, deadline: float = 120.0) -> float:
    """Reads every SKU until every worker's read model keeps them all and answers nearly all
    reads. A connection stays with the worker that accepted it: each round opens 16 new ones,
    until each worker had some. Returns the last round's hit ratio."""
    proto = GraphQLClient(server.port, h.config.admin_key)
    chunks = [proto.encode(WARM, {"c": [sku_code(n) for n in range(i, min(i + CHUNK, skus + 1))]})
              for i in range(1, skus + 1, CHUNK)]

    async def each() -> None:
        client = GraphQLClient(server.port, h.config.admin_key)
        try:
            for chunk in chunks:
                await client.post(chunk)
        finally:
            client.close()

    ratio, started, wanted = 0.0, time.monotonic(), 0.99 * skus * (server.workers or 1)
    while time.monotonic() - started < deadline:
        before = await read_counts(server.port)
        await asyncio.gather(*(each() for _ in range(16)))
        ratio = hit_ratio(before, await read_counts(server.port))
        if ratio >= 0.99 and await kept(server.port) >= wanted:
            break
        await asyncio.sleep(1.0)
    h.log(f"reads: read model warm, {await kept(server.port):.0f} SKUs kept, last round's "
          f"hit ratio {ratio}")
    return ratio


async def _sequence(client: GraphQLClient, read: bytes) -> int:
    status, body = await client.post(read)
    assert status == 200, body[:300]
    found: int = orjson.loads(body)["data"]["sku"]["sequence"]
    return found


async def staleness(h: Harness, url: str, changes: int = 200) -> None:
    """A writer on A, a reader on B polling one SKU: from A's answer (committed) to B's first
    read that shows it, per change."""
    env = {"FEED_SWEEP_INTERVAL_MS": "1000"}
    async with h.server(url, "stale", env={**env, "READ_MODEL": "off"}, workers=1) as a, \
            h.server(url, "stale", env={**env, "READ_MODEL": "on"}, workers=1) as b:
        writer = GraphQLClient(a.port, h.config.admin_key)
        reader = GraphQLClient(b.port, h.config.admin_key)
        read = reader.encode(SKU, {"c": sku_code(1)})
        adjust = writer.encode(ADJUST, {"i": {"sku": sku_code(1), "location": LOCATION,
                                              "delta": 1, "reason": "RESTOCK"}})
        before = await read_counts(b.port)
        for _ in range(200):  # fills B's entry
            await reader.post(read)
        delays: list[float] = []
        for _ in range(changes):
            seen = await _sequence(reader, read)
            status, body = await writer.post(adjust)
            assert status == 200 and b'"userErrors":[]' in body, body[:300]
            committed = time.perf_counter()
            while await _sequence(reader, read) <= seen:
                if time.perf_counter() - committed > 5:
                    raise RuntimeError("B never showed A's change")
            delays.append(time.perf_counter() - committed)
        ratio = hit_ratio(before, await read_counts(b.port))
        writer.close()
        reader.close()
    lat = latency_ms(delays)
    h.details["read_model_staleness"] = {**lat, "hit_ratio_on_b": ratio}
    h.add(Row("reads", "read model staleness: commit on A -> read on B, p50", lat["p50_ms"],
              "ms", note=f"p99 {lat['p99_ms']} ms, {changes} changes, B's reads hit {ratio}"))


async def own_writes(h: Harness, url: str, changes: int = 200) -> None:
    """One client on one single-worker instance: a change, then at once a read of that SKU,
    which must show it (feed/own_writes.py). The read's latency with the read model (waiting
    for the feed when it has not delivered the change yet) and without it (PostgreSQL)."""
    found: dict[str, dict[str, object]] = {}
    for model in ("on", "off"):
        async with h.server(url, "own", env={"READ_MODEL": model}, workers=1) as server:
            client = GraphQLClient(server.port, h.config.admin_key)
            read = client.encode(SKU, {"c": sku_code(2)})
            adjust = client.encode(ADJUST, {"i": {"sku": sku_code(2), "location": LOCATION,
                                                  "delta": 1, "reason": "RESTOCK"}})
            for _ in range(200):  # fills the entry
                seen = await _sequence(client, read)
            before = await read_counts(server.port)
            delays: list[float] = []
            stale = 0
            for _ in range(changes):
                status, body = await client.post(adjust)
                assert status == 200 and b'"userErrors":[]' in body, body[:300]
                started = time.perf_counter()
                now = await _sequence(client, read)
                delays.append(time.perf_counter() - started)
                stale += now <= seen  # the read did not show the client's own change
                seen = max(seen + 1, now)
            found[model] = {**latency_ms(delays), "stale_reads": stale,
                            "hit_ratio": hit_ratio(before, await read_counts(server.port))}
            client.close()
    h.details["read_model_own_writes"] = found
    on, off = found["on"], found["off"]
    h.add(Row("reads", "read right after this client's own change, same instance, p50",
              on["p50_ms"], "ms",
              note=f"p99 {on['p99_ms']} ms, hits {on['hit_ratio']}, {changes} changes, "
                   f"{on['stale_reads']} reads without their change; READ_MODEL=off: p50 "
                   f"{off['p50_ms']} / p99 {off['p99_ms']} ms"))
