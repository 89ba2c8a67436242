"""What bundles cost the webhook fan-out: `python -m bench.webhooks --bundles 0,1,10`.

A hot SKU's ledger (N setStock entries, each moving its availability) is written with the
partner feeds stopped; then the server's own fan-out (bootstrap.lifespan.open_services) starts
and hands the backlog on, queueing deliveries for one endpoint that wants everything (disabled:
nothing is POSTed). The clock runs from the start until the hot SKU's cursor is at its head.
Scenarios in one run, each on a fresh database, each catch-up tried 3 times (the best counts):
no bundle, with the bundle step skipped (the code before bundles) and run (its one statement
per round), alternating on one database; K bundles made of the hot SKU and one other component
each (every entry then moves every bundle: K more deliveries per entry)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator, Sequence

import asyncpg

from bench.pg import scratch_database
from bootstrap.lifespan import open_services
from domain.model import LocationKind
from feed import bundle_feed
from service import cataloguing, stocking
from service.inventory import Inventory
from settings import Settings
from settings.partners import PartnerSettings
from store import cursors

HOT = "HOT"


@contextlib.contextmanager
def bundle_step_skipped() -> Iterator[None]:
    attach, keep = bundle_feed.attach, bundle_feed.keep

    async def no_attach(conn: object, sink: str, changes: Sequence[object]
                        ) -> bundle_feed.BundleRound:
        return bundle_feed.BundleRound(changes)  # type: ignore[arg-type]

    async def no_keep(*_: object) -> None:
        return None

    bundle_feed.attach, bundle_feed.keep = no_attach, no_keep  # type: ignore[assignment]
    try:
        yield
    finally:
        bundle_feed.attach, bundle_feed.keep = attach, keep


async def scenario(admin_url: str, bundles: int, changes: int, partners: PartnerSettings,
                   repeats: int) -> dict[str, tuple[int, float]]:
    """Per variant, (deliveries queued, the best seconds the fan-out took to hand the backlog on
    in `repeats` tries, variants alternating on one database). Without bundles, also with the
    bundle step skipped."""
    name = f"bench_bundles_{os.getpid()}_{bundles}"
    async with scratch_database(admin_url, name) as url:
        conn = await asyncpg.connect(url)
        await conn.execute("""INSERT INTO webhook_endpoints (url, secret, enabled)
                              VALUES ('http://127.0.0.1:9/x', $1, false)""", "whsec_" + "A" * 32)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        inventory = Inventory(pool=pool, limits=Settings().limits)  # no feeds: nothing runs
        await cataloguing.upsert_location(inventory, code="W", name="W",
                                          kind=LocationKind.WAREHOUSE)
        await cataloguing.upsert_sku(inventory, code=HOT, name=HOT, low_stock_threshold=0)
        for n in range(bundles):
            await cataloguing.upsert_sku(inventory, code=f"C-{n}", name="c", low_stock_threshold=0)
            await stocking.set_stock(inventory, sku=f"C-{n}", location="W", on_hand=1_000_000,
                                     safety_stock=None, expected_version=None, reference=None)
            made = await cataloguing.upsert_bundle(
                inventory, code=f"B-{n}", name="b", low_stock_threshold=0,
                components=[(HOT, 1), (f"C-{n}", 1)])
            assert made.error is None
        # handed on up to here: the components' stock is out, the hot SKU's ledger is behind
        await cursors.start(conn, "webhooks")
        for n in range(changes):  # available 1, 2, 1, ...: each entry moves every bundle
            await stocking.set_stock(inventory, sku=HOT, location="W", on_hand=n % 2 + 1,
                                     safety_stock=None, expected_version=None, reference=None)
        await pool.close()
        settings = Settings(database_url=url, pool_max_size=4, partners=partners,
                            log_level="WARNING")
        variants = ["bundle step skipped", "step"] if bundles == 0 else ["step"]
        best: dict[str, tuple[int, float]] = {}
        for _ in range(repeats):
            for variant in variants:
                with bundle_step_skipped() if variant != "step" else contextlib.nullcontext():
                    queued, elapsed = await catch_up(conn, settings)
                if variant not in best or elapsed < best[variant][1]:
                    best[variant] = (queued, elapsed)
        await conn.close()
        return best


async def catch_up(conn: asyncpg.Connection, settings: Settings) -> tuple[int, float]:
    """The hot SKU's ledger behind again, nothing queued; then the fan-out's time to its head."""
    await conn.execute("UPDATE sink_cursors SET sequence = 0 WHERE sink = 'webhooks' AND sku_id ="
                       " (SELECT id FROM skus WHERE code = $1)", HOT)
    await conn.execute("TRUNCATE webhook_deliveries")
    await conn.execute("UPDATE sink_bundle_figures SET on_hand = NULL, reserved = NULL, "
                       "available = NULL, status = NULL")
    await conn.execute("VACUUM ANALYZE webhook_deliveries")
    head = await conn.fetchval("SELECT last_sequence FROM skus WHERE code = $1", HOT)
    started = time.perf_counter()
    async with open_services(settings, None):
        async with asyncio.timeout(600):
            while await conn.fetchval(
                    """SELECT c.sequence < $1 FROM sink_cursors c JOIN skus s ON s.id = c.sku_id
                       WHERE c.sink = 'webhooks' AND s.code = $2""", head, HOT) is not False:
                await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
    return int(await conn.fetchval("SELECT count(*) FROM webhook_deliveries")), elapsed


async def round_cost(admin_url: str, rounds: int = 2000) -> tuple[float, float]:
    """(ms per call of the bundle step for a round of a plain SKU, ms per `SELECT 1`) on one
    connection: what a round without bundles pays beside one bare round trip."""
    async with scratch_database(admin_url, f"bench_bundles_{os.getpid()}_round") as url:
        conn = await asyncpg.connect(url)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        inventory = Inventory(pool=pool, limits=Settings().limits)
        await cataloguing.upsert_location(inventory, code="W", name="W",
                                          kind=LocationKind.WAREHOUSE)
        for code in ("PLAIN", "C"):
            await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=0)
        await stocking.set_stock(inventory, sku="PLAIN", location="W", on_hand=1,
                                 safety_stock=None, expected_version=None, reference=None)
        made = await cataloguing.upsert_bundle(inventory, code="B", name="b",
                                               low_stock_threshold=0, components=[("C", 1)])
        assert made.error is None  # a bundle exists, made of another SKU
        await pool.close()
        sku_id = await conn.fetchval("SELECT id FROM skus WHERE code = 'PLAIN'")
        changes = await cursors.entries(conn, {sku_id: 0}, 10)
        timings = []
        for step in (lambda: bundle_feed.attach(conn, "webhooks", changes),
                     lambda: conn.fetchval("SELECT 1")):
            started = time.perf_counter()
            for _ in range(rounds):
                await step()
            timings.append((time.perf_counter() - started) / rounds * 1000)
        await conn.close()
        return timings[0], timings[1]


async def run(admin_url: str, counts: Sequence[int], changes: int,
              partners: PartnerSettings, repeats: int = 3) -> None:
    """A line per scenario (0 bundles: with and without the bundle step), then the ratios."""
    results: dict[str, float] = {}
    for bundles in counts:
        for variant, (queued, elapsed) in (await scenario(
                admin_url, bundles, changes, partners, repeats)).items():
            label = f"{bundles} bundle(s)" + (f", {variant}" if variant != "step" else "")
            results[label] = changes / elapsed
            print(f"{label:>30}: {changes} entries of the hot SKU, {queued} deliveries queued in "
                  f"{elapsed:.2f} s (best of {repeats}) = {changes / elapsed:,.0f} entries/s, "
                  f"{queued / elapsed:,.0f} deliveries/s", flush=True)
    step, trip = await round_cost(admin_url)
    print(f"a round without bundles: the bundle step {step:.3f} ms, a bare SELECT 1 {trip:.3f} ms",
          flush=True)
    first = next(iter(results.values()))
    print("entries/s relative to the first:",
          "; ".join(f"{label}: {rate / first:.2f}" for label, rate in results.items()), flush=True)
