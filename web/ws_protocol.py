"""uvicorn's sans-I/O WebSocket protocol with less kept per idle connection; `serve` uses it.

A list-backed receive queue and back-pressure flag; the handshake and its headers are dropped
once accepted (BENCHMARKS.md, "Memory per idle subscriber")."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.http11 import Request

from compat.uvicorn import (
    WebSocketsSansIOProtocol,
    forget_request,
    forget_response,
    replace_queues,
)


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
        writable = Writable()
        writable.set()
        replace_queues(self, ReceiveQueue(), writable)

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        forget_request(self)
        # the parser generator's frame keeps the request to the end; its headers (~2 KB per
        # socket) were copied into the ASGI scope and the response was built from them
        event.headers.clear()

    async def send(self, message: Any) -> None:
        await super().send(message)
        forget_response(self)
