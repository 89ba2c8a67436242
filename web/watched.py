"""HTTP responses that hold a feed slot (service.access.Gatekeeper.watch); used by web/view.py
(multipart and graphql-sse subscriptions) and web/sse.py.

The slot is given back when the response ends, however it ends (finished, client gone, error,
never started), and the stream is cut when its key is revoked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

T = TypeVar("T")


async def until(source: AsyncIterator[T], stop: asyncio.Event) -> AsyncIterator[T]:
    """The items of `source` until it ends or `stop` is set; `source` is closed either way."""
    items = source.__aiter__()
    stopped = asyncio.ensure_future(stop.wait())
    pending: asyncio.Future[T] | None = None
    try:
        while not stop.is_set():
            pending = asyncio.ensure_future(items.__anext__())
            await asyncio.wait({pending, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not pending.done():
                return
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield item
    finally:
        stopped.cancel()
        if pending is not None and not pending.done():
            pending.cancel()
            with suppress(BaseException):
                await pending
        close = getattr(items, "aclose", None)
        if close is not None:
            with suppress(Exception):
                await close()


class WatchedStream(StreamingResponse):
    """A streaming response that awaits `release` once it is over (also when it never sent a
    byte: a generator that never started never runs its `finally`)."""

    def __init__(self, content: Any, *, release: Callable[[], Awaitable[None]],
                 **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.release()
