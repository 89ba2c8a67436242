"""Hot SKU and many SKUs: reserve(quantity 1) from N closed-loop HTTP clients, against the
one-transaction-per-reservation asyncpg loop at the same concurrency; no oversell afterwards."""

from __future__ import annotations

import random

from bench import ceiling
from bench.harness import Harness, rate_row, tally_summary
from bench.http import GraphQLClient
from bench.load import Tally, graphql_closed_loop
from bench.measure import latency_ms
from bench.pg import consistency, sku_code

RESERVE = """mutation Reserve($sku: String!) {
  reserve(input: {sku: $sku, quantity: 1}) {
    reservation { id status expiresAt } level { available } userErrors { code message } } }"""


def classify_reserve(status: int, body: bytes) -> str:
    if status == 429:
        return "rate_limited"
    if b'"reservation":{' in body:
        return "held"
    if b"INSUFFICIENT_STOCK" in body:
        return "insufficient"
    return "error"


async def via_server(h: Harness, name: str, template: str, clients: int,
                     codes: list[str], workers: int | None = None,
                     ) -> tuple[Tally, dict[str, float]]:
    variant = "" if workers is None else f"_w{workers}"
    url = await h.dbs.fresh(f"{name}_srv_{clients}{variant}", template)
    async with h.server(url, f"{name}{clients}{variant}", workers=workers) as server:
        proto = GraphQLClient(server.port, h.config.admin_key)
        payloads = [proto.encode(RESERVE, {"sku": c}) for c in codes]
        rng = random.Random(11)
        measured = h.measured(
            server, f"{name}-{clients}{variant}" if clients == h.config.main_clients else "")
        tally = await graphql_closed_loop(
            server.port, h.config.admin_key, clients, 1.0 if h.config.quick else 2.0,
            h.config.seconds, lambda _: payloads[rng.randrange(len(payloads))],
            classify_reserve, on_start=measured.start, on_stop=measured.end)
        cpu = await measured.stop()
    check = await consistency(url)
    held = tally.total["held"]
    unknown = sum(n for k, n in tally.total.items() if k.startswith("error"))
    h.details[f"{name}_server_{clients}{variant}"] = {
        **tally_summary(tally, cpu), "check": check.__dict__, "held_by_clients": held}
    if not check.ok or not held <= check.reservations <= held + unknown:
        raise AssertionError(f"{name}: inconsistent after load: {check}; clients saw {held} held")
    return tally, cpu


async def via_asyncpg(h: Harness, name: str, template: str, clients: int, pool: int,
                      codes: list[str]) -> tuple[Tally, dict[str, float]]:
    url = await h.dbs.fresh(f"{name}_pg{pool}_{clients}", template)
    measured = h.measured(None)
    rng = random.Random(5)
    tally = await ceiling.reserve_loop(
        url, pool, clients, 1.0, h.config.ceiling_seconds,
        lambda: codes[rng.randrange(len(codes))], on_start=measured.start, on_stop=measured.end)
    cpu = await measured.stop()
    check = await consistency(url)
    h.details[f"{name}_asyncpg_pool{pool}_{clients}"] = {
        **tally_summary(tally, cpu), "check": check.__dict__}
    if not check.ok:
        raise AssertionError(f"{name}: the asyncpg loop left an inconsistency: {check}")
    return tally, cpu


async def run(h: Harness, name: str) -> None:
    """name "hot": one SKU, every client size; "many": 10,000 SKUs at the main size."""
    c = h.config
    hot = name == "hot"
    skus = 1 if hot else c.many_skus
    template = await h.dbs.template(name, skus, 10_000_000 if hot else 100_000)
    codes = [sku_code(n) for n in range(1, skus + 1)]
    label = "hot SKU" if hot else f"{skus} SKUs"
    for clients in (c.hot_clients if hot else (c.main_clients,)):
        h.log(f"{label}: {clients} clients via GraphQL/HTTP for {c.seconds:g} s")
        tally, cpu = await via_server(h, name, template, clients, codes)
        pools = c.ceiling_pools if clients == c.main_clients else c.ceiling_pools[:1]
        ceilings: dict[int, Tally] = {}
        for pool in pools:
            h.log(f"{label}: {clients} clients, asyncpg loop, pool {pool}")
            ceilings[pool], _ = await via_asyncpg(h, name, template, clients, pool, codes)
        first = pools[0]
        best = max(ceilings, key=lambda p: ceilings[p].rate("held"))
        held = tally.rate("held")
        main = clients == c.main_clients
        target = (2.0 if hot else 0.5) if main and first == 8 else None
        lat, lat_ceiling = latency_ms(tally.latencies), latency_ms(ceilings[first].latencies)
        note = (f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms (asyncpg pool {first}: "
                f"p50 {lat_ceiling['p50_ms']}, p99 {lat_ceiling['p99_ms']})")
        h.add(rate_row(label, f"reserves/s, {clients} clients", held,
                       ceilings[first].rate("held"), f"asyncpg loop, pool {first}",
                       target, cpu, note))
        if main and len(ceilings) > 1:
            rates = ", ".join(f"pool {p}: {t.rate('held'):.0f}/s" for p, t in ceilings.items())
            h.add(rate_row(label, f"reserves/s, {clients} clients", held,
                           ceilings[best].rate("held"), f"asyncpg loop, best pool ({best})",
                           1.0 if hot else 0.5, cpu, rates))
        if main and c.one_worker_variant and c.workers != 1:
            h.log(f"{label}: {clients} clients, one worker process")
            one, one_cpu = await via_server(h, name, template, clients, codes, workers=1)
            lat = latency_ms(one.latencies)
            h.add(rate_row(label, f"reserves/s, {clients} clients, 1 worker process",
                           one.rate("held"), ceilings[first].rate("held"),
                           f"asyncpg loop, pool {first}", None, one_cpu,
                           f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms; "
                           f"{c.workers} workers: {held:.0f}/s"))
