"""Caching and persisted queries (`--only caching`): the read bench's `sku(code)` as a GET
answered 304 (If-None-Match), a GET answered 200, a POST, and an APQ hash-only POST, each beside
the same SQL through asyncpg measured in the same run; figures go to BENCHMARKS.md."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

import orjson

from bench import ceiling
from bench.harness import Harness, rate_row, tally_summary
from bench.http import GraphQLClient
from bench.load import Tally, graphql_closed_loop
from bench.measure import latency_ms
from bench.pg import sku_code
from bench.reads import SKU
from bench.serverproc import Server

PAYLOADS = 500  # distinct SKUs asked for, each with its own ETag


def classify(status: int, body: bytes) -> str:
    if status == 304 and not body:
        return "ok"
    return "ok" if status == 200 and b'"errors"' not in body and b'"code":"B' in body else "error"


async def _etags(client: GraphQLClient, gets: list[bytes]) -> list[str]:
    """Each GET once, for the tag a browser or CDN would then hold."""
    found = []
    for payload in gets:
        assert client.connection is not None
        status, _ = await client.post(payload)
        assert status == 200
        found.append(client.connection.last_etag)
    return found


async def run(h: Harness) -> None:
    c = h.config
    template = await h.dbs.template("caching", c.many_skus, 100_000)
    url = await h.dbs.fresh("caching", template)
    rng = random.Random(21)
    codes = [sku_code(rng.randint(1, c.many_skus)) for _ in range(PAYLOADS)]
    sha = hashlib.sha256(SKU.encode()).hexdigest()
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha}}

    measured = h.measured(None)
    floor = await ceiling.read_loop(url, c.server_pool, c.read_clients, 1.0, c.read_seconds,
                                    lambda: [codes[rng.randrange(PAYLOADS)]],
                                    on_start=measured.start, on_stop=measured.end)
    h.details["caching_asyncpg"] = tally_summary(floor, await measured.stop())

    async with h.server(url, "caching") as server:
        proto = GraphQLClient(server.port, None)  # product pages read without a key
        await proto.connect()
        variables = [orjson.dumps({"code": code}).decode() for code in codes]
        gets = [proto.encode_get({"query": SKU, "variables": v}) for v in variables]
        tags = await _etags(proto, gets)
        revalidations = [proto.encode_get({"query": SKU, "variables": v}, tag)
                         for v, tag in zip(variables, tags, strict=True)]
        status, body = await proto.post(proto.encode_body(
            {"query": SKU, "variables": {"code": codes[0]}, "extensions": apq}))
        assert status == 200 and b'"errors"' not in body, body[:300]
        proto.close()
        shapes: list[tuple[str, list[bytes]]] = [
            ("GET answered 304 (If-None-Match)", revalidations),
            ("GET answered 200", gets),
            ("POST, full document", [proto.encode(SKU, {"code": code}) for code in codes]),
            ("POST, APQ hash only", [proto.encode_body({"variables": {"code": code},
                                                        "extensions": apq}) for code in codes]),
        ]
        for name, payloads in shapes:
            h.log(f"caching: sku(code) {name}, {c.read_clients} clients")
            await _measure(h, server, name, payloads, floor, rng.randrange)


async def _measure(h: Harness, server: Server, name: str, payloads: list[bytes], floor: Tally,
                   pick: Callable[[int], int]) -> None:
    c = h.config
    measured = h.measured(server, f"caching-{name}")
    tally = await graphql_closed_loop(
        server.port, None, c.read_clients, 1.0, c.read_seconds,
        lambda _: payloads[pick(len(payloads))], classify,
        on_start=measured.start, on_stop=measured.end)
    cpu = await measured.stop()
    h.details[f"caching_{name}"] = tally_summary(tally, cpu)
    lat, lat_floor = latency_ms(tally.latencies), latency_ms(floor.latencies)
    h.add(rate_row("caching", f"sku(code) {name}, queries/s, {c.read_clients} clients",
                   tally.rate("ok"), floor.rate("ok"),
                   f"same 3 SELECTs via asyncpg, pool {c.server_pool}", None, cpu,
                   f"p99 {lat['p99_ms']} ms (asyncpg {lat_floor['p99_ms']} ms); "
                   f"errors {tally.outcomes['error']}"))
