"""uvicorn's sans-I/O WebSocket protocol, lighter per idle connection.

A product page holds its socket for as long as it is open, so what uvicorn keeps per
connection is paid thousands of times over (tracemalloc, 1,000 idle subscribers): its receive
queue, an asyncio.Queue, ~3.3 KB; the parsed handshake request and response, kept after the
handshake though never read again, ~3.5 KB. This keeps the same behaviour with a list-backed
queue and back-pressure flag, and drops the handshake objects once the connection is
accepted.
`python server.py serve` uses it (uvicorn's `ws=` takes the class).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request


class ReceiveQueue:
    """The part of asyncio.Queue the protocol uses: put_nowait, get, empty (unbounded, as
    uvicorn's; the protocol pauses reading itself when the app falls behind)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class Writable:
    """asyncio.Event as the protocol uses it for back-pressure (set, clear, is_set, wait),
    without the deque an Event allocates up front."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = ReceiveQueue()  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]
        self.writable.set()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        self.request = None  # type: ignore[assignment]  # assigned by uvicorn, never read

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and self.response is not None:
            self.response = None  # type: ignore[assignment]  # only read until accepted
