"""Three instances on one PostgreSQL (through a proxy that cuts connections) and a Redis the test
kills: clients change stock and subscribers follow it while faults strike at random moments
(CHAOS_SEED to replay, CHAOS_SECONDS for the length); afterwards nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from tests.chaos import checks
from tests.chaos.cluster import Instance
from tests.chaos.subscribers import Subscriber
from tests.chaos.workload import LOCATIONS, SKUS, Client, Record
from tests.conftest import ADMIN, ADMIN_KEY
from tests.ledger_checks import assert_consistent
from tests.pg_proxy import TcpProxy
from tests.redis_server import RedisServer

CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS") or 45)
FOLLOWED = SKUS[:2]
CLIENTS = 6


async def _setup(instance: Instance, session: aiohttp.ClientSession) -> None:
    parts = [f'l{n}: upsertLocation(input: {{code: "{c}", name: "{c}", kind: WAREHOUSE}}) '
             "{ userErrors { code } }" for n, c in enumerate(LOCATIONS)]
    parts += [f's{n}: upsertSku(input: {{code: "{c}", name: "{c}"}}) {{ userErrors {{ code }} }}'
              for n, c in enumerate(SKUS)]
    parts += [f'v{n}_{m}: setStock(input: {{sku: "{s}", location: "{loc}", onHand: 40}}) '
              "{ userErrors { code } }"
              for n, s in enumerate(SKUS) for m, loc in enumerate(LOCATIONS)]
    query = "mutation {" + "\n".join(parts) + "}"
    async with session.post(instance.url, json={"query": query}, headers=ADMIN) as response:
        body = await response.json()
    assert "errors" not in body, body
    assert all(p["userErrors"] == [] for p in body["data"].values()), body


class Faults:
    """Strikes one fault every 0.7-2.5 s: SIGKILL an instance (restarted 0.5-3 s later; one
    stays up), SIGKILL Redis (restarted 0.5-3 s later), or cut every PostgreSQL connection."""

    def __init__(self, rng: random.Random, instances: list[Instance], redis: RedisServer,
                 proxy: TcpProxy) -> None:
        self.rng, self.instances, self.redis, self.proxy = rng, instances, redis, proxy
        self.redis_up = True
        self.done: Counter[str] = Counter()
        self.log: list[str] = []
        self.restarts: list[asyncio.Task[None]] = []
        self.started = time.monotonic()

    def _note(self, text: str) -> None:
        self.log.append(f"{time.monotonic() - self.started:6.2f}s {text}")

    async def _restart_instance(self, instance: Instance, after: float) -> None:
        await asyncio.sleep(after)
        await instance.start()
        self._note(f"{instance.name} back")

    async def _restart_redis(self, after: float) -> None:
        await asyncio.sleep(after)
        await asyncio.to_thread(self.redis.start)
        self.redis_up = True
        self._note("redis back")

    async def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(0.7, 2.5))
            fault = self.rng.choice(["kill-instance", "kill-redis", "cut-postgres"])
            up = [i for i in self.instances if i.up.is_set()]
            if fault == "kill-instance" and len(up) > 1:
                victim = self.rng.choice(up)
                victim.kill()
                self.restarts.append(asyncio.create_task(
                    self._restart_instance(victim, self.rng.uniform(0.5, 3))))
                self._note(f"SIGKILL {victim.name}")
            elif fault == "kill-redis" and self.redis_up:
                self.redis.stop()
                self.redis_up = False
                self.restarts.append(asyncio.create_task(
                    self._restart_redis(self.rng.uniform(0.5, 3))))
                self._note("SIGKILL redis")
            elif fault == "cut-postgres":
                self._note(f"cut {self.proxy.cut()} PostgreSQL connections")
            else:
                continue
            self.done[fault] += 1

    async def settle(self) -> None:
        async with asyncio.timeout(90):
            await asyncio.gather(*self.restarts)


async def test_nothing_is_lost_or_doubled_under_chaos(database_url: str) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(2**32))
    print(f"\nchaos seed {seed} (CHAOS_SEED={seed} replays the faults' schedule)")
    rng = random.Random(seed)
    target = urlsplit(database_url)
    proxy = TcpProxy.to(database_url)
    await proxy.start()
    redis = RedisServer()
    redis.start()
    env = {"DATABASE_URL": proxy.url(database_url), "REDIS_URL": redis.url,
           "ADMIN_API_KEY": ADMIN_KEY, "FEED_CHANNEL_PREFIX": target.path.strip("/"),
           "RATE_LIMIT_PER_KEY": "1000000", "EXPIRY_INTERVAL_MS": "200",
           "FEED_SWEEP_INTERVAL_MS": "500", "LOG_LEVEL": "WARNING", "GRACE_SECONDS": "1",
           "DB_POOL_MAX_SIZE": "6", "REQUEST_TIMEOUT_SECONDS": "5"}
    instances = [Instance(f"i{n}", env) for n in range(3)]
    tasks: list[asyncio.Task[None]] = []
    phases: dict[str, float] = {}
    began, passed = time.monotonic(), False
    try:
        await asyncio.gather(*(i.start() for i in instances))
        phases["start"] = time.monotonic() - began
        async with aiohttp.ClientSession() as session:
            await _setup(instances[0], session)
            subscribers = [Subscriber(i, sku, session) for i in instances for sku in FOLLOWED]
            tasks += [asyncio.create_task(s.run()) for s in subscribers]
            record, stop = Record(), asyncio.Event()
            clients = [Client(instances, record, random.Random(rng.random()), session)
                       for _ in range(CLIENTS)]
            tasks += [asyncio.create_task(c.run(stop)) for c in clients]
            faults = Faults(rng, instances, redis, proxy)
            await faults.run(CHAOS_SECONDS)
            phases["chaos"] = time.monotonic() - began
            await faults.settle()
            stop.set()
            async with asyncio.timeout(60):
                await asyncio.gather(*tasks[len(subscribers):])
            phases["settle"] = time.monotonic() - began
            conn = await asyncpg.connect(database_url)
            try:
                last = {r["code"]: r["last_sequence"] for r in await conn.fetch(
                    "SELECT code, last_sequence FROM skus")}
                caught_up = await _catch_up(subscribers, last, seconds=30)
                phases["caught up"] = time.monotonic() - began
                problems = await checks.oversold(conn)
                held, unknown_holds = await checks.holds(conn, record)
                adjusted, unknown_adjusts = await checks.adjustments(conn, record)
                # what each received, then the heads: an event it has is committed by then
                seen = {id(s): list(s.seen) for s in subscribers}
                ceiling = {r["code"]: r["last_sequence"] for r in await conn.fetch(
                    "SELECT code, last_sequence FROM skus")}
                streams = [p for s in subscribers
                           for p in s.problems(seen[id(s)], last[s.sku], ceiling[s.sku])]
            finally:
                await conn.close()
        print("phases ended at (s):", {k: round(v, 1) for k, v in phases.items()})
        print("faults:", dict(faults.done), f"({proxy.connections} PostgreSQL connections, "
              f"{sum(i.starts for i in instances) - 3} instance restarts)")
        print("\n".join(faults.log))
        print(record.summary())
        print(f"unanswered found in the database: {unknown_holds} of "
              f"{len(record.reserves_unknown)} reserves, {unknown_adjusts} of "
              f"{len(record.adjusts_unknown)} adjustments")
        print("subscribers:", "; ".join(
            f"{s.instance.name}/{s.sku} {len(s.seen)}/{last[s.sku]} events, {s.connects} "
            f"connects, ends {dict(s.ends)}" for s in subscribers))
        problems += held + adjusted + streams
        assert caught_up, "some subscriber never reached its SKU's last sequence"
        assert not problems, "\n".join(problems[:40])
        assert sum(len(ids) for ids in record.reserves.values()) > 50, record.summary()
        assert len(record.adjusts) > 20 and record.commits and record.releases, record.summary()
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            await assert_consistent(pool)
        finally:
            await pool.close()
        passed = True
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for instance in instances:
            if not passed and instance.starts:
                print(f"--- {instance.name} log tail ---\n{instance.tail(10)[-4000:]}")
            instance.close()
        redis.close()
        await proxy.close()


async def _catch_up(subscribers: list[Subscriber], last: dict[str, int], seconds: float) -> bool:
    """Waits (bounded) until every subscriber received its SKU's last sequence."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(s.last >= last[s.sku] for s in subscribers):
            return True
        await asyncio.sleep(0.1)
    return False
