"""This instance's copy of the SKUs it reads (row, levels, locations), kept current from the
feed: StockFeed runs it; resolvers/loaders.py and schema/compiled.py read it before SQL.

What it holds is what the `sku` read loads.

An entry is served only while it is known current: its SKU's stream on this instance is LIVE,
the backbone connection it was filled under is the current one and confirmed its
subscription, and every event since the entry's snapshot was applied in sequence (the stream
delivers contiguously; a RESYNC, a lost subscription or a gap drops the entry). Anything else
is a miss, read from PostgreSQL as before, and the SKU is filled in the background: its
stream first, then a snapshot with its ledger sequence, then the events the stream delivered
meanwhile. What events do not carry (name, threshold, kind, locations) changes only through
the catalogue mutations, which drop the entries here and on every instance (a notice on the
`<prefix>:catalog` channel; until that channel is subscribed nothing is served). Bundles are
never kept: their figures derive from their components'.

Nor is an entry older than the newest sequence this instance committed for its SKU: readers
wait a bounded time for the feed to deliver their own writes (feed/own_writes.py), else read
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

import orjson

from domain.model import Location, Sku, StockLevel
from feed.backends import RESYNC
from feed.kept_sku import Keeper
from feed.own_writes import OwnWrites
from feed.stream import StreamState
from ops.metrics import READ_MODEL_ENTRIES
from store import catalog
from store.errors import log_failure

if TYPE_CHECKING:
    from feed.hub import StockFeed

log = logging.getLogger(__name__)
FILL_BATCH = 100
FILL_ROUNDS = 4
FILL_WAIT = 5.0


class ReadModel:
    def __init__(self, feed: StockFeed, *, size: int = 10000, wait: float = 0.1) -> None:
        self.feed = feed
        self.size = size
        self.topic = feed.catalog_topic
        self._kept: OrderedDict[str, Keeper] = OrderedDict()  # least recently read first
        self._by_id: dict[int, Keeper] = {}
        self._locations: dict[int, Location] = {}
        self._locations_epoch = -1
        self._catalog_epoch = -1  # the epoch under which the catalog channel is subscribed
        self._catalog_generation = 0
        self._wanted: dict[str, None] = {}
        self._locations_wanted = False
        self._filling: set[str] = set()
        self._wake = asyncio.Event()
        # `wait`: seconds, for this instance's own commits
        self.own_writes = own = OwnWrites(self._kept, self._by_id, wait)
        self.committed, self.settle = own.committed, own.settle
        self.behind, self.behind_id = own.behind, own.behind_id

    # reads: synchronous, None for a miss
    def _live(self, keeper: Keeper | None) -> Keeper | None:
        epoch = self.feed.broadcast.epoch
        if (keeper is None or (sku := keeper.sku) is None or sku.sequence < keeper.floor
                or keeper.epoch != epoch  # (Keeper.current, inlined: read per SKU and level)
                or self._catalog_epoch != epoch or keeper.stream is None
                or keeper.stream.state is not StreamState.LIVE):
            return None
        return keeper

    def sku(self, code: str) -> Sku | None:
        keeper = self._live(self._kept.get(code))
        if keeper is None:
            return None
        self._kept.move_to_end(code)
        return keeper.sku

    def token(self, codes: Iterable[str]) -> tuple[int, int, tuple[int, ...]] | None:
        """What the model would answer for `codes` can only change with (web/revalidation.py):
        the backbone epoch, the catalogue notices seen and each SKU's sequence; None unless it
        would answer every one of them."""
        sequences = []
        for code in codes:
            keeper = self._live(self._kept.get(code))
            if keeper is None or keeper.sku is None:
                return None
            sequences.append(keeper.sku.sequence)
        return self.feed.broadcast.epoch, self._catalog_generation, tuple(sequences)

    def levels(self, sku_id: int) -> list[StockLevel] | None:
        keeper = self._live(self._by_id.get(sku_id))
        return None if keeper is None else keeper.levels

    def location(self, location_id: int) -> Location | None:
        epoch = self.feed.broadcast.epoch
        if self._locations_epoch != epoch or self._catalog_epoch != epoch:
            return None
        return self._locations.get(location_id)

    def want(self, skus: Iterable[Sku]) -> None:
        """SKUs read from PostgreSQL: kept from now on (bundles never are)."""
        for sku in skus:
            if not sku.is_bundle and sku.code not in self._filling:
                self._wanted[sku.code] = None
        if self._wanted:
            self._wake.set()

    def _refill(self, code: str) -> None:
        if code not in self._filling:
            self._wanted[code] = None
            self._wake.set()

    # the catalogue
    def forget(self, skus: Iterable[str], locations: bool) -> None:
        """Drops what a catalogue notice names (StockFeed.catalogue_changed, or another
        instance's on the catalog channel)."""
        self._catalog_generation += 1
        for code in skus:
            keeper = self._kept.get(code)
            if keeper is not None:
                keeper.lost("catalogue")
        if locations:
            self._locations, self._locations_epoch = {}, -1
            self._locations_wanted = True
            self._wake.set()

    def _forget_all(self) -> None:
        self.forget(list(self._kept), True)

    async def run(self) -> None:
        """Follows the catalog channel and fills what readers missed, until cancelled."""
        filler = asyncio.create_task(self._fill_wanted(), name="read-model-fill")
        try:
            await self._follow_catalog()
        finally:
            filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await filler
            for keeper in list(self._kept.values()):
                self._drop(keeper)

    async def _follow_catalog(self) -> None:
        broadcast = self.feed.broadcast
        while True:
            try:
                async with broadcast.subscribe(self.topic) as subscriber:
                    if broadcast.subscribed(self.topic):
                        self._catalog_epoch = broadcast.epoch
                    async for message in subscriber:
                        if message.message == RESYNC:
                            log.info("read model: backbone resubscribed; refilling %d SKUs",
                                     len(self._kept))
                            self._forget_all()
                            self._catalog_epoch = broadcast.epoch
                        else:
                            notice = orjson.loads(message.message)
                            self.forget(notice.get("skus", ()), bool(notice.get("locations")))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("read model: catalog channel lost (%r); retrying", exc)
            self._catalog_epoch = -1
            self._forget_all()
            await asyncio.sleep(0.5)

    async def _fill_wanted(self) -> None:
        """Fills what readers missed, FILL_BATCH SKUs a round, FILL_ROUNDS rounds at once
        (a round waits on Redis and PostgreSQL more than it works)."""
        rounds: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._locations_wanted:
                    self._locations_wanted = False
                    task = asyncio.create_task(self._fill_locations())
                    rounds.add(task)
                    task.add_done_callback(rounds.discard)
                while self._wanted and len(rounds) < FILL_ROUNDS:
                    codes = list(self._wanted)[:FILL_BATCH]
                    for code in codes:
                        del self._wanted[code]
                    self._filling.update(codes)
                    task = asyncio.create_task(self._fill_round(codes))
                    rounds.add(task)
                    task.add_done_callback(rounds.discard)
                    task.add_done_callback(lambda _: self._wake.set())
        finally:
            for task in rounds:
                task.cancel()

    async def _fill_round(self, codes: list[str]) -> None:
        try:
            await self._fill(codes)
        except Exception as exc:
            log_failure(log, exc, "read model: filling %d SKUs", len(codes))
        finally:
            self._filling.difference_update(codes)

    async def _fill_locations(self) -> None:
        """The locations again after a notice named them (every SKU fill reads them too)."""
        epoch, generation = self.feed.broadcast.epoch, self._catalog_generation
        if self._catalog_epoch != epoch:
            return  # the catalog channel's RESYNC asks again
        try:
            async with self.feed.pool.acquire() as conn:
                locations = await catalog.all_locations(conn)
        except Exception as exc:
            log_failure(log, exc, "read model: reading the locations")
            return
        if self.feed.broadcast.epoch == epoch and self._catalog_generation == generation:
            self._locations = {location.id: location for location in locations}
            self._locations_epoch = epoch

    async def _fill(self, codes: list[str]) -> None:
        feed, broadcast = self.feed, self.feed.broadcast
        started: dict[str, tuple[Keeper, int]] = {}
        for code in codes:
            keeper = self._kept.get(code)
            if keeper is None:
                while len(self._kept) >= self.size:
                    self._drop(next(iter(self._kept.values())))
                keeper = self._kept[code] = Keeper(code, self._refill)
                keeper.stream = feed.keep(code, keeper)
            started[code] = (keeper, keeper.restart())
        READ_MODEL_ENTRIES.set(len(self._kept))
        streams = [k.stream for k, _ in started.values() if k.stream is not None]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FILL_WAIT):
                await asyncio.gather(*(s.ready.wait() for s in streams))
        epoch, generation = broadcast.epoch, self._catalog_generation
        ready = [code for code, (k, _) in started.items() if k.stream is not None
                 and k.stream.state is StreamState.LIVE and broadcast.subscribed(k.stream.topic)]
        if not ready or self._catalog_epoch != epoch:
            return
        async with feed.pool.acquire() as conn, conn.transaction(
                isolation="repeatable_read", readonly=True):
            skus = await catalog.skus_by_code(conn, ready)
            levels = await catalog.levels_of(conn, [s.id for s in skus.values()])
            locations = await catalog.all_locations(conn)
        if broadcast.epoch != epoch or self._catalog_generation != generation:
            return  # the backbone or the catalogue moved meanwhile: the next miss refills
        self._locations = {location.id: location for location in locations}
        self._locations_epoch = epoch
        for code in ready:
            keeper, started_as = started[code]
            sku = skus.get(code)
            if sku is None or sku.is_bundle:
                self._drop(keeper)
                continue
            if keeper.generation != started_as or keeper.buffer is None:
                continue
            buffered, keeper.buffer = keeper.buffer, None
            keeper.sku, keeper.levels, keeper.epoch = sku, levels.get(sku.id, []), epoch
            keeper.sku_id = sku.id
            self._by_id[sku.id] = keeper
            for event in buffered:
                keeper.apply(event)
            keeper.settled()

    def _drop(self, keeper: Keeper) -> None:
        keeper.forget()
        self.own_writes.dropped(keeper)
        if self._kept.get(keeper.code) is keeper:
            del self._kept[keeper.code]
        if self._by_id.get(keeper.sku_id) is keeper:
            del self._by_id[keeper.sku_id]
        if keeper.stream is not None:
            self.feed.unkeep(keeper.stream)
            keeper.stream = None
        READ_MODEL_ENTRIES.set(len(self._kept))
