"""`python -m bench.partners [N]`: commit-to-NATS and commit-to-MQTT latency beside
commit-to-subscriber (GraphQL subscription), same run, two server instances (BENCHMARKS.md).

Needs PostgreSQL (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres@127.0.0.1), Redis,
NATS with JetStream and an MQTT broker on their default local ports. Each mutation is sent to
the relay's leader or to the other instance in turn; the clock runs from the client's send to
the message arriving at each subscriber."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import aiomqtt
import asyncpg
import nats
import orjson
import websockets

from bench.measure import latency_ms
from bench.serverproc import free_port

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "bench-admin-key"
SKUS = [f"BP-{n}" for n in range(4)]
ADJUST = """mutation($sku: String!, $d: Int!) { adjustStock(input: {sku: $sku, location: "W",
  delta: $d, reason: CORRECTION}) { userErrors { code } } }"""
EVENTS = "subscription($sku: String!) { stockEvents(sku: $sku) { sku sequence } }"


class Instance:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1", "--port",
             str(self.port), "--log-level", "warning"], cwd=ROOT,
            env={**os.environ, **env, "LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def ready(self, session: aiohttp.ClientSession) -> None:
        async with asyncio.timeout(30):
            while True:
                try:
                    async with session.get(f"{self.url}/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    async def leads(self, session: aiohttp.ClientSession) -> bool:
        async with session.get(f"{self.url}/metrics") as r:
            return "inventory_relay_leader 1.0" in await r.text()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=15)


async def graphql(session: aiohttp.ClientSession, url: str, query: str,
                  **variables: object) -> None:
    async with session.post(f"{url}/graphql", json={"query": query, "variables": variables},
                            headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        body = await r.json()
        assert "errors" not in body and not any(
            v.get("userErrors") for v in body["data"].values()), body


async def main(count: int) -> None:
    base = (os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
            or "postgresql://postgres@127.0.0.1:5432/postgres")
    tag = uuid.uuid4().hex[:8]
    name = f"partners_bench_{tag}"
    admin = await asyncpg.connect(base)
    await admin.execute(f"CREATE DATABASE {name}")
    dsn = base.rsplit("/", 1)[0] + f"/{name}"
    env = {"DATABASE_URL": dsn, "ADMIN_API_KEY": ADMIN, "REDIS_URL": "redis://127.0.0.1:6379/0",
           "FEED_CHANNEL_PREFIX": name, "EVENT_STREAM_URL": "nats://127.0.0.1:4222",
           "EVENT_STREAM_NAME": f"BENCH_{tag}", "EVENT_STREAM_SUBJECT_PREFIX": f"bench{tag}",
           "MQTT_URL": "mqtt://127.0.0.1:1883", "MQTT_TOPIC_PREFIX": f"bench{tag}"}
    first = Instance(env)
    instances = [first]
    arrivals: dict[str, dict[tuple[str, int], float]] = {"nats": {}, "mqtt": {}, "graphql": {}}
    nc = None
    try:
        async with aiohttp.ClientSession() as session:
            await first.ready(session)  # migrates the database first
            instances.append(Instance(env))
            await instances[1].ready(session)
            await graphql(session, first.url, 'mutation { upsertLocation(input: {code: "W", '
                          'name: "W", kind: WAREHOUSE}) { userErrors { code } } }')
            for code in SKUS:
                await graphql(session, first.url, 'mutation($c: String!) { upsertSku(input: '
                              '{code: $c, name: $c}) { userErrors { code } } }', c=code)
                await graphql(session, first.url, ADJUST, sku=code, d=50)
            leader = follower = None
            async with asyncio.timeout(20):
                while leader is None:
                    for i, instance in enumerate(instances):
                        if await instance.leads(session):
                            leader, follower = instance, instances[1 - i]
                    await asyncio.sleep(0.1)
            assert follower is not None
            nc = await nats.connect("nats://127.0.0.1:4222")

            async def on_nats(msg: object) -> None:
                event = orjson.loads(msg.data)  # type: ignore[attr-defined]
                arrivals["nats"][(event["subject"], event["sequence"])] = time.perf_counter()
            await nc.subscribe(f"bench{tag}.stock.>", cb=on_nats)
            mqtt = aiomqtt.Client("127.0.0.1", 1883, identifier=f"bench-{tag}")
            async with mqtt, websockets.connect(
                    f"ws://127.0.0.1:{follower.port}/graphql",
                    subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
                await mqtt.subscribe(f"bench{tag}/availability/+", qos=1)
                await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
                await ws.recv()
                for i, code in enumerate(SKUS):
                    await ws.send(orjson.dumps({"id": str(i), "type": "subscribe", "payload": {
                        "query": EVENTS, "variables": {"sku": code}}}).decode())

                async def read_mqtt() -> None:
                    async for message in mqtt.messages:
                        body = orjson.loads(bytes(message.payload))  # type: ignore[arg-type]
                        arrivals["mqtt"][(body["sku"], body["sequence"])] = time.perf_counter()

                async def read_ws() -> None:
                    async for raw in ws:
                        item = orjson.loads(raw)
                        if item.get("type") == "next":
                            e = item["payload"]["data"]["stockEvents"]
                            arrivals["graphql"][(e["sku"], e["sequence"])] = time.perf_counter()

                readers = [asyncio.create_task(read_mqtt()), asyncio.create_task(read_ws())]
                db = await asyncpg.connect(dsn)
                heads = {r["code"]: r["last_sequence"] for r in await db.fetch(
                    "SELECT code, last_sequence FROM skus")}
                await db.close()
                await asyncio.sleep(1.0)
                sent: dict[str, list[tuple[tuple[str, int], float]]] = {"leader": [],
                                                                         "follower": []}
                for n in range(count):
                    code = SKUS[n % len(SKUS)]
                    role, target = ("leader", leader) if n % 2 == 0 else ("follower", follower)
                    heads[code] += 1
                    started = time.perf_counter()
                    await graphql(session, target.url, ADJUST, sku=code,
                                  d=1 if (n // len(SKUS)) % 2 == 0 else -1)
                    key = (code, heads[code])
                    sent[role].append((key, started))
                    async with asyncio.timeout(10):
                        while not all(key in seen for seen in arrivals.values()):
                            await asyncio.sleep(0.0005)
                for task in readers:
                    task.cancel()
            print(f"{count} mutations, 2 instances, one at a time; ms from send to arrival")
            for role, items in sent.items():
                for channel, seen in arrivals.items():
                    figures = latency_ms([seen[k] - t for k, t in items])
                    print(f"  via the {role:8} -> {channel:7}: p50 {figures['p50_ms']:6.2f}  "
                          f"p99 {figures['p99_ms']:6.2f}  max {figures['max_ms']:6.2f}")
    finally:
        for instance in instances:
            instance.stop()
        if nc is not None:  # leave the machine's NATS and Mosquitto as they were
            await nc.jetstream().delete_stream(f"BENCH_{tag}")
            await nc.close()
            async with aiomqtt.Client("127.0.0.1", 1883) as cleaner:
                for code in SKUS:
                    await cleaner.publish(f"bench{tag}/availability/{code}", b"", qos=1,
                                          retain=True)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 400))
