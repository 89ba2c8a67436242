"""Several instances on one PostgreSQL and one Redis (`python -m bench --only instances`): the
same closed-loop reserves over 10,000 SKUs spread across 1 and then N single-worker server
processes, beside the asyncpg loop at the same concurrency; no oversell afterwards."""

from __future__ import annotations

import contextlib
import random

from bench.harness import Harness, rate_row, tally_summary
from bench.http import GraphQLClient
from bench.load import Tally, closed_loop
from bench.measure import latency_ms
from bench.pg import consistency, sku_code
from bench.reserve import RESERVE, classify_reserve, via_asyncpg

INSTANCES = 3


async def spread(h: Harness, ports: list[int], clients: int, payloads: list[bytes]) -> Tally:
    """`clients` kept-alive connections dealt round-robin over `ports`."""
    pool = [GraphQLClient(ports[i % len(ports)], h.config.admin_key) for i in range(clients)]
    for client in pool:
        await client.connect()
    rng = random.Random(17)

    async def call(index: int) -> str:
        status, body = await pool[index].post(payloads[rng.randrange(len(payloads))])
        return classify_reserve(status, body)

    try:
        return await closed_loop(clients, 1.0 if h.config.quick else 2.0, h.config.seconds, call)
    finally:
        for client in pool:
            client.close()


async def via_instances(h: Harness, template: str, clients: int, codes: list[str],
                        count: int) -> Tally:
    url = await h.dbs.fresh(f"inst{count}_{clients}", template)
    async with contextlib.AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(
            h.server(url, f"inst{count}-{n}", workers=1)) for n in range(count)]
        proto = GraphQLClient(servers[0].port, h.config.admin_key)
        payloads = [proto.encode(RESERVE, {"sku": code}) for code in codes]
        tally = await spread(h, [s.port for s in servers], clients, payloads)
    check = await consistency(url)
    held = tally.total["held"]
    unknown = sum(n for k, n in tally.total.items() if k.startswith("error"))
    h.details[f"instances_{count}_{clients}"] = {**tally_summary(tally, {}),
                                                 "check": check.__dict__}
    if not check.ok or not held <= check.reservations <= held + unknown:
        raise AssertionError(f"{count} instances: inconsistent after load: {check}")
    return tally


async def run(h: Harness) -> None:
    c = h.config
    skus = c.many_skus
    template = await h.dbs.template("instances", skus, 100_000)
    codes = [sku_code(n) for n in range(1, skus + 1)]
    clients = c.main_clients
    tallies: dict[int, Tally] = {}
    for count in (1, INSTANCES):
        h.log(f"instances: {count} x 1 worker, {clients} clients over {skus} SKUs")
        tallies[count] = await via_instances(h, template, clients, codes, count)
    pool = c.ceiling_pools[0]
    h.log(f"instances: asyncpg loop, pool {pool}, {clients} clients")
    ceiling, _ = await via_asyncpg(h, "instances", template, clients, pool, codes)
    for count, tally in tallies.items():
        lat = latency_ms(tally.latencies)
        h.add(rate_row(f"{skus} SKUs", f"reserves/s, {clients} clients over {count} instance(s)"
                       " of 1 worker on one PostgreSQL and Redis", tally.rate("held"),
                       ceiling.rate("held"), f"asyncpg loop, pool {pool}", None, None,
                       f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms; "
                       f"{count} vs 1: {tally.rate('held') / tallies[1].rate('held'):.2f}x"))
