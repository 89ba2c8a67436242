"""`python -m bench --only peer`: `sku(code)` with its levels and their location beside
PostGraphile 5's read of the same SKU (issue 16), in one run over one bench database, with
the raw asyncpg ceiling of bench/reads.py.

Each round measures, in turn (the order reversed every other round, so that the machine's
drift falls on both sides): the asyncpg loop, PostGraphile (bench/postgraphile.py, one Node
process), and this server's normal path, compiled reads, and compiled reads from a warmed read
model (READ_MODEL=on), the last also with one worker process. The two documents ask for the
same figures in each server's own shape (BENCHMARKS.md shows both); their answers are compared
before the first window."""

from __future__ import annotations

import math
import os
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from bench import ceiling, read_model
from bench.harness import Harness, Row, rate_row, tally_summary
from bench.http import GraphQLClient
from bench.load import Tally, graphql_closed_loop
from bench.measure import latency_ms
from bench.pg import connection, sku_code
from bench.postgraphile import Install, PostGraphile, Unavailable, install
from bench.reads import SKU, VARIANTS, classify_read
from bench.serverproc import Server
from bench.sqlcount import WireCounter

PEER = "PostGraphile 5"
# PostGraphile's names for the same read: the table `skus` gives `skusByCode(code:)` (one SKU,
# from the unique constraint), the foreign key `stockLevelsBySkuId`, `locationByLocationId`.
THEIRS = """query Sku($code: String!) { skusByCode(code: $code) {
  code name available status lastSequence
  stockLevelsBySkuId { nodes { onHand reserved available version
                               locationByLocationId { code } } } } }"""
# `available` and `status` as computed columns (a function named <table>_<field> taking the
# row), with the formula of migrations/0003_formula.sql and store/rows.py's SKU_COLUMNS.
COMPUTED = """
CREATE FUNCTION skus_available(s skus) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(stock_available(l.on_hand, l.reserved, l.safety_stock)), 0)::integer
    FROM stock_levels l WHERE l.sku_id = s.id $$;
CREATE FUNCTION skus_status(s skus) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT stock_status(skus_available(s), s.low_stock_threshold) $$;
CREATE FUNCTION stock_levels_available(l stock_levels) RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT stock_available(l.on_hand, l.reserved, l.safety_stock) $$;
"""
CEILING = "asyncpg ceiling"
# (label, settings, worker processes): reads.py's three paths with `serve`'s one worker per
# core, and the read model in one process as PostGraphile runs (on a machine shared with
# other work the scheduler hands out CPU per process, which favours two workers)
OURS: tuple[tuple[str, dict[str, str], int | None], ...] = (
    *((label, env, None) for label, env in VARIANTS),
    ("read model + compiled, 1 worker", {"READ_MODEL": "on"}, 1),
)


@dataclass(frozen=True)
class Window:
    tally: Tally
    cpu: dict[str, float]
    rss_mb: float = math.nan
    hits: float | None = None  # our read model's hit ratio in the window


def rounds(h: Harness) -> int:
    return int(os.environ.get("BENCH_PEER_ROUNDS") or (1 if h.config.quick else 3))


def _figures(body: bytes) -> tuple[object, ...]:
    """What both answers hold, in one shape: the SKU's figures and each level's."""
    data = orjson.loads(body)["data"]
    ours = "sku" in data
    sku = data["sku"] if ours else data["skusByCode"]
    levels = sku["levels"] if ours else sku["stockLevelsBySkuId"]["nodes"]
    return (sku["code"], sku["name"], int(sku["available"]), sku["status"],
            int(sku["sequence"] if ours else sku["lastSequence"]),
            tuple((lv["onHand"], lv["reserved"], lv["available"], lv["version"],
                   lv["location" if ours else "locationByLocationId"]["code"])
                  for lv in levels))


async def _window(h: Harness, server: Server, label: str, query: str, codes: list[str],
                  seen: dict[str, tuple[object, ...]]) -> Window:
    """Checks the server's answer for the first code against the other side's, then reads
    random SKUs from `read_clients` clients."""
    c = h.config
    proto = GraphQLClient(server.port, None)
    status, body = await proto.post(proto.encode(query, {"code": codes[0]}))
    proto.close()
    assert status == 200 and b'"errors"' not in body, body[:300]
    figures = _figures(body)
    if seen.setdefault(codes[0], figures) != figures:
        raise AssertionError(f"the two servers answer differently: {seen[codes[0]]} {figures}")
    payloads = [proto.encode(query, {"code": code}) for code in codes]
    rng = random.Random(13)
    ours = not isinstance(server, PostGraphile)  # py-spy (--profile) samples Python only
    measured = h.measured(server, f"peer-{label}" if ours else "")
    before = await read_model.read_counts(server.port) if ours else {}
    tally = await graphql_closed_loop(
        server.port, None, c.read_clients, 1.0, c.read_seconds,
        lambda _: payloads[rng.randrange(len(payloads))], classify_read,
        on_start=measured.start, on_stop=measured.end)
    cpu = await measured.stop()
    hits = read_model.hit_ratio(before, await read_model.read_counts(server.port)) if ours else None
    return Window(tally, cpu, round(server.rss() / 2**20, 1), hits)


async def _measure(h: Harness, setup: Install, url: str, label: str, codes: list[str],
                   seen: dict[str, tuple[object, ...]]) -> Window:
    c = h.config
    if label == CEILING:
        rng = random.Random(13)
        measured = h.measured(None)
        floor: Callable[[], list[str]] = lambda: [codes[rng.randrange(len(codes))]]  # noqa: E731
        tally = await ceiling.read_loop(url, c.server_pool, c.read_clients, 1.0,
                                        c.read_seconds, floor, on_start=measured.start,
                                        on_stop=measured.end)
        return Window(tally, await measured.stop())
    if label == PEER:
        peer = PostGraphile(setup, url, c.server_pool)
        try:
            await peer.start()
            return await _window(h, peer, label, THEIRS, codes, seen)
        finally:
            peer.stop()
    env, workers = next((env, workers) for name, env, workers in OURS if name == label)
    async with h.server(url, "peer", env=env, workers=workers) as server:
        if env.get("READ_MODEL") == "on":
            await read_model.warm(h, server, c.many_skus)
        return await _window(h, server, label, SKU, codes, seen)


async def count_statements(h: Harness, setup: Install, url: str, codes: list[str]) -> None:
    """PostGraphile's SQL per read, counted on the wire (ours: bench/reads.py's rows)."""
    counter = WireCounter(url)
    peer = PostGraphile(setup, await counter.start(), h.config.server_pool)
    try:
        await peer.start()
        client = GraphQLClient(peer.port)
        payloads = [client.encode(THEIRS, {"code": code}) for code in codes[:220]]
        for payload in payloads[:20]:  # warm-up: prepared statements, the operation's plan
            await client.post(payload)
        counter.reset()
        for payload in payloads[20:]:
            status, body = await client.post(payload)
            assert status == 200 and b'"errors"' not in body, body[:300]
        client.close()
        found = counter.summary(len(payloads) - 20)
    finally:
        peer.stop()
        await counter.stop()
    h.details["peer_sql_per_request"] = found
    h.add(Row("peer", f"SQL statements per sku(code), {PEER}",
              float(str(found["statements_per_request"])), "",
              note=f"{found['round_trips_per_request']} round trips, "
                   f"{found['begin_commit_per_request']} BEGIN/COMMIT per read; ours: 3 "
                   "(reads rows, READ_MODEL=off)"))


async def run(h: Harness) -> None:
    c = h.config
    try:
        setup = await install()
    except Unavailable as exc:
        h.log(f"peer: skipped: {exc}")
        h.details["peer_skipped"] = str(exc)
        h.add(Row("peer", f"sku(code) beside {PEER}: skipped", math.nan, "", note=str(exc)))
        return
    h.details["peer_versions"] = {"postgraphile": setup.version, "node": setup.node_version,
                                  "node_binary": str(setup.node)}
    h.log(f"peer: PostGraphile {setup.version} on Node {setup.node_version}")
    template = await h.dbs.template("reads", c.many_skus, 100_000)
    url = await h.dbs.fresh("peer", template)
    async with connection(url) as conn:
        await conn.execute(COMPUTED)
    rng = random.Random(9)
    codes = [sku_code(rng.randint(1, c.many_skus)) for _ in range(2000)]
    await count_statements(h, setup, url, codes)
    labels = [CEILING, PEER, *(label for label, _, _ in OURS)]
    rates: dict[str, list[float]] = {label: [] for label in labels}
    seen: dict[str, tuple[object, ...]] = {}
    for n in range(1, rounds(h) + 1):
        order = labels if n % 2 else labels[::-1]
        results: dict[str, Window] = {}
        loads: dict[str, list[float]] = {}
        for label in order:
            loads[label] = [round(x, 2) for x in os.getloadavg()]
            h.log(f"peer: round {n}, {label}, {c.read_clients} clients "
                  f"(load {loads[label]})")
            results[label] = await _measure(h, setup, url, label, codes, seen)
        floor = results[CEILING].tally
        for label in labels:
            w = results[label]
            tally, cpu = w.tally, w.cpu
            rates[label].append(tally.rate("ok"))
            h.details[f"peer_round_{n}_{label}"] = {
                **tally_summary(tally, cpu), "rss_mb": w.rss_mb, "read_model_hits": w.hits,
                "load_avg": loads[label]}
            if label == CEILING:
                continue
            lat, ok = latency_ms(tally.latencies), max(1, tally.outcomes["ok"])
            h.add(rate_row("peer", f"round {n}: sku(code)/s, {c.read_clients} clients, {label}",
                           tally.rate("ok"), floor.rate("ok"),
                           f"same 3 SELECTs via asyncpg, pool {c.server_pool}", None, cpu,
                           f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms; errors "
                           f"{tally.outcomes['error']}; CPU ms per read: server "
                           f"{1000 * cpu['server_cpu_s'] / ok:.3f}, postgres "
                           f"{1000 * cpu['postgres_cpu_s'] / ok:.3f}; RSS {w.rss_mb} MB"
                           + (f"; read model hits {w.hits}" if w.hits is not None else "")
                           + f"; load {loads[label]}"))
    theirs = statistics.median(rates[PEER])
    for label, _, _ in OURS:
        h.add(rate_row("peer", f"median sku(code)/s over {len(rates[label])} rounds, {label}",
                       statistics.median(rates[label]), theirs,
                       f"{PEER}'s median, same run", 1.0))
