"""Caching and persisted queries (`--only caching`): the read bench's `sku(code)` as a GET
answered 304 (If-None-Match), a GET answered 200, a POST, and an APQ hash-only POST, each beside
the same SQL through asyncpg measured in the same run; figures go to BENCHMARKS.md.

Every read is revalidated once before the 304 windows, as a browser or CDN would have, so they
measure the 304 answered before the query runs (web/revalidation.py)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

import orjson

from bench import ceiling
from bench.harness import Harness, Row, rate_row, tally_summary
from bench.http import GraphQLClient
from bench.load import Tally, graphql_closed_loop
from bench.measure import latency_ms
from bench.pg import sku_code
from bench.reads import SKU

PAYLOADS = 500  # distinct SKUs asked for, each with its own ETag
ROUNDS = 5
CEILING = "asyncpg"


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
    """ROUNDS rounds, each measuring the ceiling and then every shape, so that load from
    elsewhere on a shared machine falls on all of them alike; each row is the median round."""
    c = h.config
    template = await h.dbs.template("caching", c.many_skus, 100_000)
    url = await h.dbs.fresh("caching", template)
    rng = random.Random(21)
    codes = [sku_code(rng.randint(1, c.many_skus)) for _ in range(PAYLOADS)]
    sha = hashlib.sha256(SKU.encode()).hexdigest()
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    seconds = max(3.0, c.read_seconds / ROUNDS)
    windows: dict[str, list[tuple[Tally, dict[str, float]]]] = {}

    async with h.server(url, "caching") as server:
        proto = GraphQLClient(server.port, None)  # product pages read without a key
        await proto.connect()
        variables = [orjson.dumps({"code": code}).decode() for code in codes]
        gets = [proto.encode_get({"query": SKU, "variables": v}) for v in variables]
        tags = await _etags(proto, gets)
        revalidations = [proto.encode_get({"query": SKU, "variables": v}, tag)
                         for v, tag in zip(variables, tags, strict=True)]
        for payload in revalidations:  # the first revalidation of a read runs it (and leaves
            status, _ = await proto.post(payload)  # its token: web/revalidation.py)
            assert status == 304
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
        for round_ in range(ROUNDS):
            measured = h.measured(None)
            floor = await ceiling.read_loop(
                url, c.server_pool, c.read_clients, 1.0, seconds,
                lambda: [codes[rng.randrange(PAYLOADS)]],
                on_start=measured.start, on_stop=measured.end)
            windows.setdefault(CEILING, []).append((floor, await measured.stop()))
            for name, payloads in shapes:
                h.log(f"caching: round {round_ + 1}, sku(code) {name}")
                measured = h.measured(server, f"caching-{name}")
                tally = await graphql_closed_loop(
                    server.port, None, c.read_clients, 1.0, seconds,
                    _picker(payloads, rng), classify, on_start=measured.start, on_stop=measured.end)
                windows.setdefault(name, []).append((tally, await measured.stop()))
    _report(h, windows)


def _picker(payloads: list[bytes], rng: random.Random) -> Callable[[object], bytes]:
    return lambda _: payloads[rng.randrange(len(payloads))]


def _median(found: list[tuple[Tally, dict[str, float]]]) -> tuple[Tally, dict[str, float]]:
    return sorted(found, key=lambda window: window[0].rate("ok"))[len(found) // 2]


def _cpu_ms(found: list[tuple[Tally, dict[str, float]]], party: str) -> float:
    """CPU ms of `party` per answered request, the median window's: steadier than the rate
    on a machine whose other load comes and goes."""
    per = sorted(1000 * cpu[f"{party}_cpu_s"] / max(1, tally.outcomes["ok"])
                 for tally, cpu in found)
    return round(per[len(per) // 2], 3)


def _report(h: Harness, windows: dict[str, list[tuple[Tally, dict[str, float]]]]) -> None:
    c = h.config
    floors = windows.pop(CEILING)
    floor, floor_cpu = _median(floors)
    floor_ms = _cpu_ms(floors, "generator")
    h.details["caching_asyncpg"] = tally_summary(floor, floor_cpu)
    for name, found in windows.items():
        tally, cpu = _median(found)
        h.details[f"caching_{name}"] = tally_summary(tally, cpu)
        h.details[f"caching_{name}_rounds"] = [round(t.rate("ok"), 1) for t, _ in found]
        lat, lat_floor = latency_ms(tally.latencies), latency_ms(floor.latencies)
        h.add(rate_row("caching", f"sku(code) {name}, queries/s, {c.read_clients} clients",
                       tally.rate("ok"), floor.rate("ok"),
                       f"same 3 SELECTs via asyncpg, pool {c.server_pool}", None, cpu,
                       f"median of {len(found)} rounds "
                       f"{[round(t.rate('ok')) for t, _ in found]}; p99 {lat['p99_ms']} ms "
                       f"(asyncpg {lat_floor['p99_ms']} ms); errors {tally.outcomes['error']}"))
        ms = _cpu_ms(found, "server")
        h.add(Row("caching", f"server CPU per sku(code) {name}", ms, " ms", floor_ms,
                  "the asyncpg loop's own CPU per read", round(floor_ms / ms, 2)))
