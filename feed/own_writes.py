"""Read-your-own-writes for the read model (feed/read_model.py owns one): what this instance
committed per kept SKU, and readers' bounded wait for the feed to deliver it.

StockFeed.publish hands every event this instance commits to `committed` before the mutation
answers; from then on the SKU's entry is not served while older than that sequence (the
Keeper's `floor`, checked by ReadModel's reads). A reader first `settle`s: it waits up to `wait`
seconds for the stream to deliver the commit, else the entry is a miss and the read goes to
PostgreSQL. A SKU not kept at the commit needs no floor: its entry's snapshot is read after the
commit (a fill makes the Keeper before it reads the snapshot)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence

from domain.model import StockEvent
from feed.kept_sku import Keeper


class OwnWrites:
    def __init__(self, kept: Mapping[str, Keeper], by_id: Mapping[int, Keeper],
                 wait: float) -> None:
        self.kept = kept  # the read model's entries, by SKU code and by SKU id
        self.by_id = by_id
        self.wait = wait
        self._behind: set[Keeper] = set()  # committed here, maybe not yet delivered

    def committed(self, events: Sequence[StockEvent]) -> None:
        """Events this instance committed: no entry older than them is served from now on."""
        for event in events:
            keeper = self.kept.get(event.sku)
            if keeper is not None and event.sequence > keeper.floor:
                keeper.floor = event.sequence
                self._behind.add(keeper)

    def dropped(self, keeper: Keeper) -> None:
        self._behind.discard(keeper)

    async def settle(self, codes: Iterable[str]) -> None:
        """Waits up to `wait` seconds for the kept SKUs among `codes` that are behind this
        instance's commits to catch up (a dropped or refilling one ends its wait at once)."""
        if not self._behind or self.wait <= 0:
            return
        self._behind = {k for k in self._behind if self.kept.get(k.code) is k and not k.current}
        reached = [keeper.reached() for code in codes
                   if (keeper := self.kept.get(code)) in self._behind]
        if reached:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.wait):
                    await asyncio.gather(*(event.wait() for event in reached))

    def behind(self, code: str) -> bool:
        """The model misses `code` for being older than this instance's commit (or refilling
        since): read from the primary, never from a replica that may lag the commit."""
        return _behind(self.kept.get(code))

    def behind_id(self, sku_id: int) -> bool:
        return _behind(self.by_id.get(sku_id))


def _behind(keeper: Keeper | None) -> bool:
    return keeper is not None and keeper.floor > 0 and not keeper.current
