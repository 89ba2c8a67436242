"""What one operation costs the server and PostgreSQL in CPU, for bench/capacity.py: reserves
(alone and group-committed), SKU reads, and a delivered subscription event (the CPU with
subscribers minus the same commits without), plus RSS per idle subscriber and the bytes each
event puts on Redis. CPU seconds per party over a window (bench/measure.py), divided by the
operations done in it: a cost, which the shared machine's load moves far less than speed."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import random
import re

from redis import asyncio as aioredis

from bench.fanout import RESERVE as RESERVE_ONLY
from bench.harness import Harness
from bench.http import GraphQLClient
from bench.load import Tally, fixed_rate, graphql_closed_loop
from bench.measure import latency_ms
from bench.pg import sku_code
from bench.reads import SKU, SKUS, classify_read
from bench.reserve import RESERVE, classify_reserve
from bench.serverproc import Server
from bench.ws import Hub, Subscriber, subscribe_many

Sample = dict[str, float]
SENDERS = 10


def per_op(cpu: dict[str, float], count: int, tally: Tally | None = None,
           idle_cores: float = 0.0) -> Sample:
    """CPU per operation; `idle_cores`: the server's own CPU with no load (its sweeps and
    timers), taken out of its share."""
    n = max(1, count)
    busy = max(0.0, cpu["server_cpu_s"] - idle_cores * cpu["wall_s"])
    found = {"count": count, "per_s": count / (cpu["wall_s"] or 1.0),
             "server_ms": 1000 * busy / n,
             "postgres_ms": 1000 * cpu["postgres_cpu_s"] / n,
             "server_cores": cpu["server_cpu_s"] / (cpu["wall_s"] or 1.0),
             "other_cores": cpu["other_cpu_s"] / (cpu["wall_s"] or 1.0)}
    if tally is not None:
        found["p50_ms"] = latency_ms(tally.latencies)["p50_ms"]
    return found


async def idle(h: Harness, server: Server, seconds: float = 1.5) -> float:
    """The server's CPU (cores) with nothing asked of it."""
    measured = h.measured(server)
    measured.start()
    await asyncio.sleep(seconds)
    cpu = await measured.stop()
    return cpu["server_cpu_s"] / (cpu["wall_s"] or 1.0)


async def closed(h: Harness, server: Server, token: str | None, clients: int,
                 payloads: list[bytes], classify: object, ok: str,
                 idle_cores: float) -> Sample:
    rng = random.Random(7)
    measured = h.measured(server)
    tally = await graphql_closed_loop(
        server.port, token, clients, 0.3, h.config.seconds,
        lambda _: payloads[rng.randrange(len(payloads))], classify,  # type: ignore[arg-type]
        on_start=measured.start, on_stop=measured.end)
    cpu = await measured.stop()
    return per_op(cpu, tally.outcomes[ok], tally, idle_cores)


async def requests(h: Harness, template: str, skus: int, repeats: int,
                   ) -> dict[str, list[Sample]]:
    """One server, one worker: each shape `repeats` times, in turn."""
    url = await h.dbs.fresh("cap_requests", template)
    found: dict[str, list[Sample]] = collections.defaultdict(list)
    rng = random.Random(9)
    async with h.server(url, "caprequests", workers=1) as server:
        proto = GraphQLClient(server.port, None)  # product pages read without a key
        shopper = GraphQLClient(server.port, h.config.admin_key)  # the payload carries the key
        reserves = [shopper.encode(RESERVE, {"sku": sku_code(rng.randint(1, skus))})
                    for _ in range(2000)]
        one = [proto.encode(SKU, {"code": sku_code(rng.randint(1, skus))}) for _ in range(2000)]
        many = [proto.encode(SKUS, {"codes": [sku_code(rng.randint(1, skus)) for _ in range(50)]})
                for _ in range(500)]
        shapes = (  # name, key, clients, payloads, classify, the outcome counted
            ("reserve, alone (1 client)", h.config.admin_key, 1, reserves, classify_reserve,
             "held"),
            ("reserve, group commit (100 clients)", h.config.admin_key, 100, reserves,
             classify_reserve, "held"),
            ("sku(code) read (20 clients)", None, 20, one, classify_read, "ok"),
            ("skusByCode(50) read (10 clients)", None, 10, many, classify_read, "ok"))
        idle_cores = await idle(h, server)
        found["idle"].append({"server_cores": idle_cores})
        for _ in range(repeats):
            for name, token, clients, payloads, classify, ok in shapes:
                h.log(f"capacity: {name}")
                found[name].append(await closed(h, server, token, clients, payloads,
                                                classify, ok, idle_cores))
    return found


async def _commits(h: Harness, server: Server, clients: list[GraphQLClient], codes: list[str],
                   rate: float, hub: Hub, idle_cores: float) -> Sample:
    """Reserves at `rate` for the window; deliveries counted while the CPU window is open."""
    rng = random.Random(17)

    async def send(index: int) -> str:
        client = clients[index]
        status, body = await client.post(
            client.encode(RESERVE_ONLY, {"sku": codes[rng.randrange(len(codes))]}))
        return "ok" if status == 200 and b'"userErrors":[]' in body else "error"

    stop = asyncio.Event()
    measured = h.measured(server)
    measured.start()
    before = hub.delivered
    senders = asyncio.create_task(fixed_rate(rate, len(clients), stop, send))
    await asyncio.sleep(h.config.seconds)
    stop.set()
    measured.end()
    delivered = hub.delivered - before
    tally = await senders
    cpu = await measured.stop()
    found = per_op(cpu, tally.outcomes["ok"], tally, idle_cores)
    found.update(delivered=delivered, delivered_per_s=delivered / (cpu["wall_s"] or 1.0),
                 server_s=cpu["server_cpu_s"],
                 postgres_s=cpu["postgres_cpu_s"], errors=tally.total["error"])
    return found


class RedisTap:
    """Every message the server publishes under its channel prefix: count and bytes, by
    channel with the SKU code taken out."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.prefix = prefix
        self.counts: collections.Counter[str] = collections.Counter()
        self.bytes: collections.Counter[str] = collections.Counter()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pubsub.psubscribe(f"{self.prefix}*")
        self.task = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] == "pmessage":
                channel = re.sub(r"B\d{5}", "<sku>", message["channel"].decode())
                self.counts[channel] += 1
                self.bytes[channel] += len(message["data"])

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        await self.client.aclose()


async def _settle(server: Server) -> int:
    gc.collect()
    await asyncio.sleep(1.5)
    return server.rss()


async def _connect(h: Harness, server: Server, hub: Hub, subs: list[Subscriber],
                   wanted: list[str], rss: int) -> tuple[int, float]:
    """Subscribers to `wanted`; the server's RSS after, and its growth per subscriber (KB)."""
    h.log(f"capacity: connecting {len(wanted)} subscribers (to {len(subs) + len(wanted)})")
    subs += await subscribe_many(server.port, wanted, hub, h.config.ws_deflate)
    if hub.failed:
        raise RuntimeError(f"{hub.failed} subscribers failed: {hub.errors}")
    now = await _settle(server)
    return now, (now - rss) / len(wanted) / 1024


async def fanout(h: Harness, template: str, skus: int, subscribers: int, rate: float,
                 repeats: int) -> dict[str, object]:
    """Windows of reserves at `rate` over `skus` SKUs: without subscribers; with one
    anonymous subscriber (like a product page) per SKU; then with `subscribers` in all (the
    rest connected in `repeats` steps, RSS measured after each). Each kind `repeats` times."""
    url = await h.dbs.fresh("cap_fanout", template)
    codes = [sku_code(n) for n in range(1, skus + 1)]
    hub = Hub()
    subs: list[Subscriber] = []
    found: dict[str, object] = {"skus": skus, "subscribers": subscribers, "rate": rate}
    async with h.server(url, "capfan", workers=1) as server:
        clients = [GraphQLClient(server.port, h.config.admin_key) for _ in range(SENDERS)]
        for code in codes[:20]:
            await clients[0].post(clients[0].encode(RESERVE_ONLY, {"sku": code}))
        idle_cores = await idle(h, server)
        found["idle_server_cores"] = idle_cores

        async def windows(label: str) -> list[Sample]:
            h.log(f"capacity: {rate:g} reserves/s, {label}")
            return [await _commits(h, server, clients, codes, rate, hub, idle_cores)
                    for _ in range(repeats)]

        found["without"] = await windows("no subscribers")
        rss = await _settle(server)
        rss, found["rss_kb_first_per_sku"] = await _connect(h, server, hub, subs, codes, rss)
        hub.recording = True
        found["with_one"] = await windows("one subscriber per SKU")
        steps: list[float] = []
        rest = subscribers - skus
        for step in range(repeats):
            wanted = [codes[i % skus] for i in range(len(subs), skus + rest * (step + 1)
                                                     // repeats)]
            rss, per_kb = await _connect(h, server, hub, subs, wanted, rss)
            steps.append(per_kb)
        found["rss_kb_per_subscriber"] = steps
        found["rss_mb_with_all"] = rss / 2**20
        tap = RedisTap(h.config.redis_url, f"bench-{h.config.run_id}-capfan")
        await tap.start()
        with_ = await windows(f"{subscribers} subscribers")
        found["with"] = with_
        hub.recording = False
        await asyncio.sleep(0.5)
        await tap.stop()
        found["redis_messages"] = dict(tap.counts)
        found["redis_bytes"] = dict(tap.bytes)
        found["redis_committed"] = sum(int(s["count"]) for s in with_)
        for client in clients:
            client.close()
        for sub in subs:
            sub.close()
    return found
