"""One SKU the read model keeps (feed/read_model.py): its figures, moved by its stream's events
in sequence only, and what a fill in progress must know (SkuStream.kept calls it).

Its `floor` is the newest sequence this instance committed for it (ReadModel.committed):
figures older than that are never served, and readers may wait for the stream to reach it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from domain.model import Sku, StockEvent, StockLevel
from feed.stream import SkuStream
from ops.metrics import READ_MODEL_LOSSES


class Keeper:
    """One kept SKU: its stream, and its figures once filled."""

    __slots__ = ("buffer", "caught", "code", "epoch", "floor", "generation", "levels", "refill",
                 "sku", "sku_id", "stream")

    def __init__(self, code: str, refill: Callable[[str], None]) -> None:
        self.code = code
        self.refill = refill  # the model fills it again after a loss
        self.stream: SkuStream | None = None
        self.sku: Sku | None = None
        self.sku_id = 0
        self.levels: list[StockLevel] = []
        self.epoch = -1  # the backbone epoch the figures were filled under
        self.buffer: list[StockEvent] | None = None  # events delivered while filling
        self.generation = 0  # moves on every loss: a fill started before one is void
        self.floor = 0  # the newest sequence committed on this instance: none older is served
        self.caught: asyncio.Event | None = None  # readers waiting for the floor

    @property
    def current(self) -> bool:
        """Filled, and not older than what this instance committed."""
        return self.sku is not None and self.sku.sequence >= self.floor

    def reached(self) -> asyncio.Event:
        """Set once the figures reach the floor, or are dropped (a reader then reads SQL)."""
        caught = self.caught
        if caught is None:
            caught = self.caught = asyncio.Event()
            self.settled()
        return caught

    def settled(self) -> None:
        """Wakes the readers waiting for the floor if there is no more to wait for."""
        if self.caught is not None and (self.sku is None or self.sku.sequence >= self.floor):
            self.caught.set()
            self.caught = None

    def restart(self) -> int:
        self.sku, self.buffer = None, []
        self.generation += 1
        return self.generation

    def lost(self, cause: str) -> None:
        """Events may have been missed (the stream's RESYNC or failure) or the catalogue
        changed: dropped, and filled again."""
        if self.sku is not None:
            READ_MODEL_LOSSES.labels(cause).inc()
        self.forget()
        self.refill(self.code)

    def forget(self) -> None:
        self.sku, self.buffer = None, None
        self.generation += 1
        self.settled()

    def apply(self, event: StockEvent) -> None:
        if self.buffer is not None:
            self.buffer.append(event)
            return
        sku = self.sku
        if sku is None or event.sequence <= sku.sequence:
            return
        if event.sequence != sku.sequence + 1:
            self.lost("gap")  # cannot happen with a contiguous stream; never serve across one
            return
        self.sku = dataclasses.replace(
            sku, on_hand=event.sku_on_hand, reserved=event.sku_reserved,
            available=event.available, sequence=event.sequence)
        level = event.level
        if level is not None:
            levels = [lv for lv in self.levels if lv.location_id != level.location_id]
            levels.append(dataclasses.replace(level, sku=sku.code))
            levels.sort(key=lambda lv: lv.location_id)
            self.levels = levels
        if self.caught is not None:
            self.settled()
