"""Reads: `sku(code)` and `skusByCode(50 codes)` per second against the same SQL through
asyncpg, and the SQL each request costs, counted on the wire (bench/sqlcount.py)."""

from __future__ import annotations

import random
from collections.abc import Callable

from bench import ceiling
from bench.harness import Harness, Row, rate_row, tally_summary
from bench.http import GraphQLClient
from bench.load import Tally, graphql_closed_loop
from bench.measure import latency_ms
from bench.pg import sku_code
from bench.reserve import RESERVE, classify_reserve
from bench.sqlcount import WireCounter

FIELDS = """code name available status sequence
            levels { onHand reserved available version location { code } }"""
SKU = f"query Sku($code: String!) {{ sku(code: $code) {{ {FIELDS} }} }}"
SKUS = f"query Skus($codes: [String!]!) {{ skusByCode(codes: $codes) {{ {FIELDS} }} }}"
BATCH = 50


def classify_read(status: int, body: bytes) -> str:
    return "ok" if status == 200 and b'"errors"' not in body and b'"code":"B' in body else "error"


async def count_statements(h: Harness, url: str) -> dict[str, object]:
    """A second server whose database connections pass through the counting relay."""
    counter = WireCounter(url)
    relayed = await counter.start()
    rng = random.Random(3)
    found: dict[str, object] = {}
    try:
        quiet = {"EXPIRY_INTERVAL_MS": "3600000", "FEED_SWEEP_INTERVAL_MS": "3600000"}
        async with h.server(relayed, "reads-count", env=quiet) as server:
            client = GraphQLClient(server.port, h.config.admin_key)
            one = [client.encode(SKU, {"code": sku_code(n)}) for n in range(1, 201)]
            many = [client.encode(SKUS, {"codes": [sku_code(rng.randint(1, h.config.many_skus))
                                                   for _ in range(BATCH)]}) for _ in range(200)]
            reserve = client.encode(RESERVE, {"sku": sku_code(1)})
            for name, payloads in (("sku", one), (f"skusByCode({BATCH})", many),
                                   ("reserve, one client", [reserve] * 200)):
                for payload in payloads[:20]:  # warm-up: prepared statements, type codecs
                    await client.post(payload)
                counter.reset()
                for payload in payloads:
                    status, body = await client.post(payload)
                    assert status == 200 and b'"errors"' not in body, body[:300]
                found[name] = counter.summary(len(payloads))
            client.close()
            counter.reset()
            tally = await graphql_closed_loop(
                server.port, h.config.admin_key, h.config.main_clients, 0.0, 3.0,
                lambda _: reserve, classify_reserve)
            found[f"reserve, {h.config.main_clients} clients (group commit)"] = (
                counter.summary(max(1, tally.total["held"])))
    finally:
        await counter.stop()
    return found


async def _pair(h: Harness, url: str, name: str, query: str,
                codes: Callable[[], list[str]], floor: Tally | None = None) -> Tally:
    """One read shape through the server, then its SQL through asyncpg, same concurrency."""
    c = h.config
    rng = random.Random(13)
    one_worker = floor is not None
    name += ", 1 worker process" if one_worker else ""
    h.log(f"reads: {name}, {c.read_clients} clients")
    async with h.server(url, "reads", workers=1 if one_worker else None) as server:
        proto = GraphQLClient(server.port, None)  # product pages read without a key
        variables: Callable[[], dict[str, object]] = (
            (lambda: {"code": codes()[0]}) if query == SKU else (lambda: {"codes": codes()}))
        payloads = [proto.encode(query, variables()) for _ in range(2000)]
        measured = h.measured(server, f"reads-{name}")
        tally = await graphql_closed_loop(
            server.port, None, c.read_clients, 1.0, c.read_seconds,
            lambda _: payloads[rng.randrange(len(payloads))], classify_read,
            on_start=measured.start, on_stop=measured.end)
        cpu = await measured.stop()
    if floor is None:
        measured = h.measured(None)
        floor = await ceiling.read_loop(url, c.server_pool, c.read_clients, 1.0, c.read_seconds,
                                        codes, on_start=measured.start, on_stop=measured.end)
        h.details[f"reads_{name}_asyncpg"] = tally_summary(floor, await measured.stop())
    h.details[f"reads_{name}"] = tally_summary(tally, cpu)
    lat, lat_floor = latency_ms(tally.latencies), latency_ms(floor.latencies)
    h.add(rate_row("reads", f"{name} queries/s, {c.read_clients} clients",
                   tally.rate("ok"), floor.rate("ok"),
                   f"same 3 SELECTs via asyncpg, pool {c.server_pool}", None, cpu,
                   f"p99 {lat['p99_ms']} ms (asyncpg {lat_floor['p99_ms']} ms); "
                   f"errors {tally.outcomes['error']}"
                   + (f"; {c.workers} workers above" if one_worker else "")))
    return floor


async def run(h: Harness) -> None:
    c = h.config
    template = await h.dbs.template("reads", c.many_skus, 100_000)
    url = await h.dbs.fresh("reads", template)
    rng = random.Random(9)
    one = await _pair(h, url, "sku(code)", SKU, lambda: [sku_code(rng.randint(1, c.many_skus))])
    await _pair(h, url, f"skusByCode({BATCH})", SKUS,
                lambda: [sku_code(rng.randint(1, c.many_skus)) for _ in range(BATCH)])
    if c.one_worker_variant and c.workers != 1:
        await _pair(h, url, "sku(code)", SKU, lambda: [sku_code(rng.randint(1, c.many_skus))],
                    floor=one)
    h.log("reads: counting SQL statements per request on the wire")
    counts = await count_statements(h, url)
    h.details["sql_per_request"] = counts
    for name, summary in counts.items():
        assert isinstance(summary, dict)
        per = float(summary["statements_per_request"])
        target = name.startswith("skusByCode")
        h.add(Row("reads", f"SQL statements per {name}", per, "",
                  note=f"+{summary['begin_commit_per_request']} BEGIN/COMMIT, "
                       f"{summary['pool_resets_per_request']} pool resets, "
                       f"{summary['round_trips_per_request']} round trips",
                  target="<= 3" if target else "", met=(per <= 3) if target else None))
