"""Reads: `sku(code)` and `skusByCode(50 codes)` per second against the same SQL through
asyncpg, and the SQL each request costs, counted on the wire (bench/sqlcount.py).

Each shape runs the normal way, compiled, and compiled from a warm read model (and `sku` once
with every read a miss); bench/read_model.py adds the read model's staleness."""

from __future__ import annotations

import random
from collections.abc import Callable

from bench import ceiling, read_model
from bench.harness import Harness, Row, rate_row, tally_summary
from bench.http import GraphQLClient
from bench.load import Tally, graphql_closed_loop
from bench.measure import latency_ms
from bench.pg import sku_code
from bench.reserve import RESERVE, classify_reserve
from bench.sqlcount import WireCounter
from settings import Settings
from settings.values import flag

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
        quiet = {"EXPIRY_INTERVAL_MS": "3600000", "FEED_SWEEP_INTERVAL_MS": "3600000",
                 "READ_MODEL": "off"}  # the SQL a read costs PostgreSQL's way
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


KEPT = {"READ_MODEL": "on"}
# (label, server settings): the normal path, compiled reads alone (the default), and both
VARIANTS = (
    ("normal path", {"READ_MODEL": "off", "COMPILED_READS": "off"}),
    ("compiled", {"READ_MODEL": "off"}),
    ("read model + compiled", KEPT),
)
TARGETS = {"sku(code)": 1.0, f"skusByCode({BATCH})": 0.5}


def keeps(env: dict[str, str]) -> bool:
    """Whether a server started with `env` has a read model (then the bench warms it)."""
    return flag(env, "READ_MODEL", Settings.read_model) and env.get("READ_MODEL_SIZE") != "0"


async def _server(h: Harness, url: str, name: str, query: str, codes: Callable[[], list[str]],
                  env: dict[str, str], workers: int | None = None,
                  warm: bool = False) -> tuple[Tally, dict[str, float], dict[str, object]]:
    """One read shape through a server started with `env`, `read_clients` clients."""
    c = h.config
    rng = random.Random(13)
    extra: dict[str, object] = {}
    async with h.server(url, "reads", env=env, workers=workers) as server:
        if warm:
            extra["warm_hit_ratio"] = await read_model.warm(h, server, c.many_skus)
        proto = GraphQLClient(server.port, None)  # product pages read without a key
        variables: Callable[[], dict[str, object]] = (
            (lambda: {"code": codes()[0]}) if query == SKU else (lambda: {"codes": codes()}))
        payloads = [proto.encode(query, variables()) for _ in range(2000)]
        measured = h.measured(server, f"reads-{name}")
        before = await read_model.read_counts(server.port)
        tally = await graphql_closed_loop(
            server.port, None, c.read_clients, 1.0, c.read_seconds,
            lambda _: payloads[rng.randrange(len(payloads))], classify_read,
            on_start=measured.start, on_stop=measured.end)
        cpu = await measured.stop()
        after = await read_model.read_counts(server.port)
        extra["hit_ratio"] = read_model.hit_ratio(before, after)
        extra["entries_lost"] = {k: after[k] - before.get(k, 0.0) for k in after
                                 if k.startswith("lost_")}
        extra["rss_mb"] = round(server.rss() / 2**20, 1)
    return tally, cpu, extra


async def _ceiling(h: Harness, url: str, name: str, codes: Callable[[], list[str]]) -> Tally:
    c = h.config
    measured = h.measured(None)
    floor = await ceiling.read_loop(url, c.server_pool, c.read_clients, 1.0, c.read_seconds,
                                    codes, on_start=measured.start, on_stop=measured.end)
    h.details[f"reads_{name}_asyncpg"] = tally_summary(floor, await measured.stop())
    return floor


def _row(h: Harness, name: str, label: str, tally: Tally, floor: Tally,
         cpu: dict[str, float], extra: dict[str, object], target: float | None) -> None:
    c = h.config
    h.details[f"reads_{name}_{label}"] = {**tally_summary(tally, cpu), **extra}
    lat, lat_floor = latency_ms(tally.latencies), latency_ms(floor.latencies)
    hits = (f"; read model hits {extra['hit_ratio']}, lost {extra['entries_lost'] or 0}"
            if "read model" in label else "")
    h.add(rate_row("reads", f"{name} queries/s, {c.read_clients} clients, {label}",
                   tally.rate("ok"), floor.rate("ok"),
                   f"same 3 SELECTs via asyncpg, pool {c.server_pool}", target, cpu,
                   f"p99 {lat['p99_ms']} ms (asyncpg {lat_floor['p99_ms']} ms); "
                   f"errors {tally.outcomes['error']}{hits}; RSS {extra['rss_mb']} MB"))


async def run(h: Harness) -> None:
    c = h.config
    template = await h.dbs.template("reads", c.many_skus, 100_000)
    url = await h.dbs.fresh("reads", template)
    rng = random.Random(9)
    shapes: list[tuple[str, str, Callable[[], list[str]]]] = [
        ("sku(code)", SKU, lambda: [sku_code(rng.randint(1, c.many_skus))]),
        (f"skusByCode({BATCH})", SKUS,
         lambda: [sku_code(rng.randint(1, c.many_skus)) for _ in range(BATCH)]),
    ]
    for name, query, codes in shapes:
        h.log(f"reads: {name}, {c.read_clients} clients, asyncpg ceiling")
        floor = await _ceiling(h, url, name, codes)
        for label, env in VARIANTS:
            h.log(f"reads: {name}, {c.read_clients} clients, {label}")
            warm = keeps(env)
            tally, cpu, extra = await _server(h, url, name, query, codes, env, warm=warm)
            _row(h, name, label, tally, floor, cpu, extra, TARGETS[name] if warm else None)
        if name == "sku(code)":
            # every read a miss: a read model far smaller than the SKUs read (fills, evictions)
            label = "read model misses (READ_MODEL_SIZE=100)"
            tally, cpu, extra = await _server(h, url, name, query, codes,
                                              {**KEPT, "READ_MODEL_SIZE": "100"})
            _row(h, name, label, tally, floor, cpu, extra, None)
            if c.one_worker_variant and c.workers != 1:
                tally, cpu, extra = await _server(h, url, name, query, codes, KEPT, workers=1,
                                                  warm=keeps(KEPT))
                _row(h, name, "read model + compiled, 1 worker process", tally, floor, cpu,
                     extra, None)
    h.log("reads: read model staleness, two instances")
    await read_model.staleness(h, url)
    h.log("reads: a read right after the client's own change, one instance")
    await read_model.own_writes(h, url)
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
                       f"{summary['round_trips_per_request']} round trips (READ_MODEL=off)",
                  target="<= 3" if target else "", met=(per <= 3) if target else None))
