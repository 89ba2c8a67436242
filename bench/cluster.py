"""`python -m bench --only cluster` (or `python -m bench.cluster [N]`): fan-out latency from a
mutation's commit on one instance (its event's occurredAt) to the event on another instance's
subscription, through a single Redis and through a Redis Cluster, same run, same load.

Two deployments side by side (two instances each, a scratch database each): one on the machine's
Redis (REDIS_URL), one on a 3-master, 3-replica cluster of redis-server 7 started here. Mutations
go one at a time, alternating deployments; beside each, the raw ceiling of its backbone (PUBLISH
or SPUBLISH -> message, this process's own clients) is measured in the same loop."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import aiohttp
import asyncpg
import orjson
import websockets
from redis import asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from bench.harness import Harness, Row
from bench.measure import latency_ms
from bench.partners import ADJUST, ADMIN, Instance, graphql
from tests.redis_cluster import RedisCluster, cluster_unavailable

SKUS = [f"BC-{n}" for n in range(4)]
EVENTS = "subscription($sku: String!) { stockEvents(sku: $sku) { sku sequence occurredAt } }"
Probe = Callable[[], Awaitable[float]]


class Deployment:
    """Two instances on one scratch database and one backbone; a subscriber on the second."""

    def __init__(self, name: str, redis_url: str, admin_url: str) -> None:
        self.name = name
        self.db = f"cluster_bench_{uuid.uuid4().hex[:8]}"
        self.dsn = admin_url.rsplit("/", 1)[0] + f"/{self.db}"
        self.env = {"DATABASE_URL": self.dsn, "ADMIN_API_KEY": ADMIN, "REDIS_URL": redis_url,
                    "FEED_CHANNEL_PREFIX": self.db, "RATE_LIMIT_PER_KEY": "0"}
        self.instances: list[Instance] = []
        self.arrivals: dict[tuple[str, int], float] = {}  # seconds from commit to receipt
        self.heads: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def running(self, session: aiohttp.ClientSession) -> AsyncIterator[Deployment]:
        for _ in range(2):
            self.instances.append(Instance(self.env))
            await self.instances[-1].ready(session)  # the first migrates
        try:
            writer, reader = self.instances
            await graphql(session, writer.url, 'mutation { upsertLocation(input: {code: "W", '
                          'name: "W", kind: WAREHOUSE}) { userErrors { code } } }')
            for code in SKUS:
                await graphql(session, writer.url, 'mutation($c: String!) { upsertSku(input: '
                              '{code: $c, name: $c}) { userErrors { code } } }', c=code)
                await graphql(session, writer.url, ADJUST, sku=code, d=50)
            db = await asyncpg.connect(self.dsn)
            self.heads = {r["code"]: r["last_sequence"] for r in await db.fetch(
                "SELECT code, last_sequence FROM skus")}
            await db.close()
            async with websockets.connect(
                    f"ws://127.0.0.1:{reader.port}/graphql",
                    subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
                await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
                await ws.recv()
                for i, code in enumerate(SKUS):
                    await ws.send(orjson.dumps({"id": str(i), "type": "subscribe", "payload": {
                        "query": EVENTS, "variables": {"sku": code}}}).decode())
                task = asyncio.create_task(self._read(ws))
                await asyncio.sleep(1.0)
                try:
                    yield self
                finally:
                    task.cancel()
        finally:
            for instance in self.instances:
                instance.stop()

    async def _read(self, ws: websockets.ClientConnection) -> None:
        async for raw in ws:
            item = orjson.loads(raw)
            if item.get("type") == "next":
                e = item["payload"]["data"]["stockEvents"]
                committed = datetime.fromisoformat(e["occurredAt"]).timestamp()
                self.arrivals[(e["sku"], e["sequence"])] = time.time() - committed

    async def one(self, session: aiohttp.ClientSession, n: int) -> float:
        """Seconds from one mutation's commit on the writer until the reader's subscriber has
        its event (both clocks are this machine's)."""
        code = SKUS[n % len(SKUS)]
        self.heads[code] += 1
        key = (code, self.heads[code])
        await graphql(session, self.instances[0].url, ADJUST, sku=code,
                      d=1 if (n // len(SKUS)) % 2 == 0 else -1)
        async with asyncio.timeout(10):
            while key not in self.arrivals:
                await asyncio.sleep(0.0005)
        return self.arrivals[key]


@contextlib.asynccontextmanager
async def single_probe(url: str, channel: str) -> AsyncIterator[Probe]:
    """PUBLISH -> message on a single Redis."""
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation

    async def once() -> float:
        started = time.perf_counter()
        await client.publish(channel, b"x")
        while await pubsub.get_message(timeout=5.0) is None:
            pass
        return time.perf_counter() - started

    try:
        yield once
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


@contextlib.asynccontextmanager
async def sharded_probe(url: str, channel: str) -> AsyncIterator[Probe]:
    """SPUBLISH -> smessage on the cluster."""
    client = ClusterClient.from_url(url.replace("redis+cluster://", "redis://").split(",")[0])
    await client.initialize()
    pubsub = client.pubsub()
    await pubsub.ssubscribe(channel)
    await pubsub.get_sharded_message(timeout=1.0)

    async def once() -> float:
        started = time.perf_counter()
        await client.spublish(channel, b"x")
        while await pubsub.get_sharded_message(timeout=5.0) is None:
            pass
        return time.perf_counter() - started

    try:
        yield once
    finally:
        await pubsub.aclose()
        await client.aclose()


async def measure(redis_url: str, admin_url: str, count: int) -> dict[str, dict[str, float]]:
    """p50/p99/max in ms of each deployment's fan-out and of its backbone's raw ceiling."""
    admin = await asyncpg.connect(admin_url)
    with RedisCluster() as cluster:
        single = Deployment("redis", redis_url, admin_url)
        sharded = Deployment("cluster", cluster.url, admin_url)
        for d in (single, sharded):
            await admin.execute(f"CREATE DATABASE {d.db}")
        samples: dict[str, list[float]] = {k: [] for k in ("redis", "redis_raw", "cluster",
                                                           "cluster_raw")}
        try:
            async with (aiohttp.ClientSession() as session, single.running(session),
                        sharded.running(session),
                        single_probe(redis_url, f"{single.db}:probe") as raw_single,
                        sharded_probe(cluster.url, f"{sharded.db}:probe") as raw_sharded):
                for n in range(count):  # interleaved: both see the same machine and load
                    samples["redis"].append(await single.one(session, n))
                    samples["redis_raw"].append(await raw_single())
                    samples["cluster"].append(await sharded.one(session, n))
                    samples["cluster_raw"].append(await raw_sharded())
        finally:
            for d in (single, sharded):
                await admin.execute(f"DROP DATABASE IF EXISTS {d.db} WITH (FORCE)")
            await admin.close()
    return {k: latency_ms(v) for k, v in samples.items()}


async def run(h: Harness, count: int = 300) -> None:
    why = cluster_unavailable()
    if why is not None:
        h.log(f"cluster: skipped ({why})")
        return
    found = await measure(h.config.redis_url, h.config.database_url, count)
    for backbone, label in (("redis", "single Redis"), ("cluster", "Redis Cluster")):
        for q in ("p50_ms", "p99_ms"):
            value, ceiling = found[backbone][q], found[f"{backbone}_raw"][q]
            h.add(Row("cluster", f"fan-out {q[:3]} via {label}, commit -> other instance's "
                      "subscriber", value, "ms", ceiling, f"raw {label} pub/sub {q[:3]}",
                      round(ceiling / value, 3) if value else None))
    single, sharded = found["redis"]["p50_ms"], found["cluster"]["p50_ms"]
    h.add(Row("cluster", "fan-out p50 via Redis Cluster beside via single Redis", sharded, "ms",
              single, "fan-out p50 via single Redis, same run",
              round(single / sharded, 3) if sharded else None))
    h.details["cluster"] = found


async def main(count: int) -> None:
    import os

    admin_url = (os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
                 or "postgresql://postgres@127.0.0.1:5432/postgres")
    why = cluster_unavailable()
    if why is not None:
        print(f"skipped: {why}")
        return
    found = await measure(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
                          admin_url, count)
    print(f"{count} mutations per deployment, one at a time, interleaved; ms")
    for name, figures in found.items():
        print(f"  {name:12} p50 {figures['p50_ms']:6.2f}  p99 {figures['p99_ms']:6.2f}  "
              f"max {figures['max_ms']:6.2f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
