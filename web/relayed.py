"""One relayed graphql-transport-ws subscription (a feed.audience.Member) and the renderer its
audience executes events with; web/websocket.py makes both when a resolver hands over."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from compat.strawberry import masked, starlette_socket
from domain.model import StockEvent
from feed.audience import Audience, Render
from schema.errors import MaskUnexpectedErrors
from schema.execution import PerEventMemoExecutionContext

if TYPE_CHECKING:
    from web.websocket import TransportWSHandler

log = logging.getLogger(__name__)


class Sending(enum.Enum):
    IDLE = "idle"  # nothing waiting for the socket
    FLUSHING = "flushing"  # a task writes the backlog to the socket
    ENDING = "ending"  # the backlog is the overflow error and `complete`; nothing more


class Relayed:
    """Its id's message prefix, the last sequence it was given, and a backlog while its socket
    cannot take more."""

    __slots__ = ("handler", "id", "prefix", "last", "kind", "audience", "state", "backlog",
                 "_flush")

    def __init__(self, handler: TransportWSHandler, id: str, kind: str) -> None:
        self.handler = handler
        self.id = id
        self.prefix = f'{{"id":{orjson.dumps(id).decode()},"type":"next","payload":'
        self.last = 0
        self.kind = kind
        self.audience: Audience | None = None
        self.state = Sending.IDLE
        self.backlog: list[str] = []
        self._flush: asyncio.Task[None] | None = None  # referenced while it runs

    def deliver(self, payload: str) -> None:
        self.send(self.prefix + payload + "}")

    def send(self, text: str) -> None:
        if self.state is Sending.ENDING:
            return
        self.backlog.append(text)
        if len(self.backlog) > self.handler.context.feed.queue_size:
            self.handler.overflowed(self)  # the backlog becomes the error and `complete`
        if self._flush is None:
            if self.state is Sending.IDLE:
                self.state = Sending.FLUSHING
            self._flush = asyncio.create_task(self._run(), name="ws-relay")

    def end(self, *texts: str) -> None:
        """Sends `texts` instead of what is waiting, and nothing after them."""
        self.backlog[:] = texts
        self.state = Sending.ENDING

    async def _run(self) -> None:
        socket = starlette_socket(self.handler.websocket)
        try:
            while self.backlog:
                await socket.send_text(self.backlog.pop(0))
        except Exception as exc:  # gone: the handler's read loop ends and cleans up
            log.debug("relay to a closed socket dropped (%r)", exc)
        finally:
            self.backlog.clear()
            self._flush = None
            if self.state is Sending.FLUSHING:
                self.state = Sending.IDLE


def renderer(executor: PerEventMemoExecutionContext, payload_of: Callable[[Any], Any],
             encode: Callable[[object], str | bytes]) -> Render:
    """Executes an event for an audience as Strawberry would for one subscriber, errors
    masked as MaskUnexpectedErrors does, and encodes the `next` payload."""
    mask = MaskUnexpectedErrors()

    async def render(event: StockEvent) -> str:
        result = executor.build_per_event_executor(payload_of(event)).execute_operation(False)
        if executor.is_awaitable(result):
            result = await result
        payload: dict[str, object] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in masked(mask, result.errors)]
        encoded = encode(payload)
        return encoded.decode() if isinstance(encoded, bytes) else encoded

    return render
