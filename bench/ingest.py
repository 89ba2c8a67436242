"""Ingested messages/s beside the raw consume rate of the same stream, one run
(`python -m bench.ingest [--messages N] [--skus N] [--batch N] [--kind adjust|sale]`).

N CloudEvents `inventory.adjust` over --skus SKUs at one store are published to a stream of
their own on the machine's NATS (BENCH_NATS_URL, else nats://127.0.0.1:4222). Then (a) a bare
pull consumer fetches and acks them all, no database work: NATS's ceiling; (b) the real ingester
(service/ingester.py under its lock, in process, on a scratch database) applies them all, timed
until its consumer has nothing pending; (c) the same lines through the bulk use case alone, in
batches of the same size with a key each, no NATS: the database's ceiling. The streams are
deleted afterwards."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig

from bench.pg import scratch_database
from domain.access import Scope
from domain.bulk import StockLine
from domain.model import AdjustmentReason
from domain.rules import Limits
from domain.sales import MAX_SALES, Sale
from feed.ingest_source import IngestSource, SourceSettings
from service import bulk, keys, sales
from service.access import Gatekeeper
from service.ingest_lead import lead
from service.ingester import Ingester
from service.inventory import Inventory
from settings.ingest import IngestSettings
from store import leases
from store.database import create_pool

SEED = """
INSERT INTO locations (code, name, kind) VALUES ('S1', 'Store 1', 'STORE');
INSERT INTO skus (code, name) SELECT 'I-' || n, 'I-' || n FROM generate_series(1, $1::int) n;
INSERT INTO stock_levels (sku_id, location_id, on_hand)
SELECT s.id, l.id, 1000 FROM skus s, locations l;
"""


def document(kind: str, n: int, skus: int) -> dict[str, object]:
    data: dict[str, object] = {"sku": f"I-{n % skus + 1}", "location": "S1"}
    if kind == "sale":
        data.update(quantity=1, happenedAt="2026-12-07T09:00:00Z")
    else:
        data.update(delta=1, reason="RESTOCK")
    return {"specversion": "1.0", "id": str(n), "source": "urn:bench",
            "type": f"inventory.{kind}", "data": data}


async def publish(url: str, stream: str, subject: str, count: int, skus: int,
                  kind: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[subject])
        for start in range(0, count, 1000):
            await asyncio.gather(*(js.publish(subject, orjson.dumps(document(kind, n, skus)))
                                   for n in range(start, min(count, start + 1000))))
    finally:
        await nc.close()


async def raw_consume(url: str, stream: str, count: int, batch: int) -> float:
    """Messages/s of a pull consumer that only fetches and acks."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_consumer(stream, ConsumerConfig(durable_name="raw",
                                                     ack_policy=AckPolicy.EXPLICIT))
        sub = await js.pull_subscribe_bind(durable="raw", stream=stream, pending_msgs_limit=-1)
        done = 0
        started = time.perf_counter()
        while done < count:
            for msg in await sub.fetch(batch, timeout=5):
                await msg.ack()
                done += 1
        await nc.flush()
        return count / (time.perf_counter() - started)
    finally:
        await nc.close()


async def ingest(url: str, db_url: str, stream: str, subject: str, count: int,
                 batch: int) -> float:
    """Messages/s of the real ingester, from its start until its consumer has none pending."""
    pool = await create_pool(db_url, min_size=1, max_size=4)
    try:
        inventory = Inventory(pool, Limits())
        token, _ = await keys.create_key(pool, "bench-ingest", [Scope.WRITE])
        s = IngestSettings(url=url, subjects=(subject,), stream=stream,
                           dead_letter_subject=f"{subject}.dead",
                           dead_letter_stream=f"{stream}_DEAD", api_key=token, batch=batch)
        source = IngestSource(SourceSettings.from_settings(s))
        ingester = Ingester(inventory, Gatekeeper(pool), s, source)
        nc = await nats.connect(url)
        started = time.perf_counter()
        task = asyncio.create_task(lead(lambda: leases.connect(db_url, "bench-ingest"),
                                        ingester.consume, retry=0.2))
        try:
            js = nc.jetstream()
            while True:
                await asyncio.sleep(0.02)
                try:
                    info = await js.consumer_info(stream, s.consumer)
                except nats.js.errors.NotFoundError:
                    continue
                if (info.num_pending or 0) + (info.num_ack_pending or 0) == 0 \
                        and (info.delivered.stream_seq or 0) >= count:
                    break
            elapsed = time.perf_counter() - started
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await nc.close()
        async with pool.acquire() as conn:
            applied = await conn.fetchval("SELECT count(*) FROM stock_events")
        assert applied == count, f"{applied} ledger entries for {count} messages"
        return count / elapsed
    finally:
        await pool.close()


async def bulk_alone(db_url: str, count: int, skus: int, batch: int, kind: str) -> float:
    """Lines/s of service.bulk.adjust_many (sales: service.sales.record_sales), keyed per
    line, `batch` lines a call, no NATS."""
    pool = await create_pool(db_url, min_size=1, max_size=4)
    try:
        inventory = Inventory(pool, Limits())
        started = time.perf_counter()
        step = min(batch, MAX_SALES) if kind == "sale" else batch
        for start in range(0, count, step):
            if kind == "sale":
                outcomes = await sales.record_sales(inventory, location="S1", sales=[
                    Sale(f"I-{n % skus + 1}", 1, datetime(2026, 12, 7, 9, tzinfo=UTC), None,
                         f"sale {n}") for n in range(start, min(count, start + step))],
                    idempotency_scope="bench")
                assert all(o.error is None for o in outcomes)
                continue
            lines = [StockLine(f"I-{n % skus + 1}", "S1", delta=1,
                               reason=AdjustmentReason.RESTOCK, idempotency_key=f"bulk {n}")
                     for n in range(start, min(count, start + step))]
            done = await bulk.adjust_many(inventory, lines, atomic=False, refusals={},
                                          idempotency_scope="bench")
            assert all(o.error is None for o in done.lines)
        return count / (time.perf_counter() - started)
    finally:
        await pool.close()


async def main(admin_url: str, nats_url: str, count: int, skus: int, batch: int,
               kind: str) -> None:
    tag = uuid.uuid4().hex[:8]
    stream, subject = f"BENCH_INGEST_{tag}", f"bench{tag}.s1.stock"
    async with scratch_database(admin_url, f"bench_ingest_{tag}") as db_url:
        conn = await asyncpg.connect(db_url)
        await conn.execute(SEED.replace("$1::int", str(int(skus))))
        await conn.close()
        try:
            started = time.perf_counter()
            await publish(nats_url, stream, subject, count, skus, kind)
            print(f"{count / (time.perf_counter() - started):10.0f} msgs/s  published "
                  f"({count} {kind}s over {skus} SKUs)")
            raw = await raw_consume(nats_url, stream, count, batch)
            print(f"{raw:10.0f} msgs/s  raw consume: fetch {batch} + ack, no database")
            applied = await ingest(nats_url, db_url, stream, subject, count, batch)
            print(f"{applied:10.0f} msgs/s  ingested: the ingester, batch {batch}")
            alone = await bulk_alone(db_url, count, skus, batch, kind)
            print(f"{alone:10.0f} lines/s {'recordSales' if kind == 'sale' else 'bulk adjust'} "
                  f"use case alone, {batch} keyed lines a call")
            print(f"{applied / raw:10.2f} x      ingested / raw consume")
            print(f"{applied / alone:10.2f} x      ingested / use case alone")
        finally:
            nc = await nats.connect(nats_url)
            for name in (stream, f"{stream}_DEAD"):
                try:
                    await nc.jetstream().delete_stream(name)
                except Exception as exc:
                    print(f"could not delete stream {name}: {exc!r}")
            await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--nats", default=os.environ.get("BENCH_NATS_URL",
                                                         "nats://127.0.0.1:4222"))
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--skus", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--kind", choices=("adjust", "sale"), default="adjust")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.nats, args.messages, args.skus, args.batch, args.kind))
