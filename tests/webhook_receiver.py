"""A real webhook receiver for tests: an aiohttp server on 127.0.0.1 that verifies every request
with the official `standardwebhooks` package and answers as told (200, 500, 410, hang, drop)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiohttp import web
from standardwebhooks import Webhook

from tests.conftest import free_port

ANSWERS = ("200", "500", "410", "hang", "drop")
# How a path answers: by the request's event id and attempt number (webhook-attempt).
Policy = Callable[[str, int], str]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    event_id: str
    attempt: int
    sku: str
    sequence: int
    type: str
    answer: str
    at: float  # time.monotonic()
    signatures: int
    verified: bool


class Receiver:
    """Each path is one endpoint: `add(path, secrets)` gives its URL; every secret must verify
    the request (a rotation's overlap signs with two). Unverified requests are answered 400."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.host = host
        self.received: list[Received] = []
        self.secrets: dict[str, list[str]] = {}
        self.policies: dict[str, Policy] = {}
        self._changed = asyncio.Condition()
        self._release = asyncio.Event()  # ends every hanging request
        self._runner: web.AppRunner | None = None

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}/{path}"

    def add(self, path: str, *secrets: str, answer: str | Policy = "200") -> str:
        self.secrets[path] = list(secrets)
        self.answer(path, answer)
        return self.url(path)

    def answer(self, path: str, answer: str | Policy) -> None:
        if isinstance(answer, str):
            assert answer in ANSWERS, answer
            self.policies[path] = lambda _id, _n, a=answer: a  # type: ignore[misc]
        else:
            self.policies[path] = answer

    def at(self, path: str, answer: str | None = None) -> list[Received]:
        return [r for r in self.received
                if r.path == path and (answer is None or r.answer == answer)]

    def delivered(self, path: str) -> list[Received]:
        return self.at(path, "200")

    async def until(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{path}", self._receive)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        body = await request.read()
        headers = dict(request.headers)
        verified = path in self.secrets and all(
            _verifies(secret, body, headers) for secret in self.secrets[path])
        event_id = request.headers.get("webhook-id", "")
        attempt = int(request.headers.get("webhook-attempt", "0"))
        answer = self.policies.get(path, lambda _i, _n: "200")(event_id, attempt)
        if not verified:
            answer = "400"
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = {}
        signatures = len(request.headers.get("webhook-signature", "").split())
        received = Received(
            path, event_id, attempt, document.get("subject", ""), document.get("sequence", 0),
            document.get("type", ""), answer, time.monotonic(), signatures, verified)
        if answer in ("hang", "drop"):
            await self._record(received)
            if answer == "drop":
                assert request.transport is not None
                request.transport.abort()
            await self._release.wait()
            return web.Response(text="too late")
        # An answer counts once it is written: a request read after its sender died (a killed
        # server's last bytes) is recorded as lost, not as delivered.
        response = web.Response(status=int(answer), text="answered")
        try:
            await response.prepare(request)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            received = dataclasses.replace(received, answer=f"lost {answer}")
        await self._record(received)
        return response

    async def _record(self, received: Received) -> None:
        async with self._changed:
            self.received.append(received)
            self._changed.notify_all()


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except Exception:
        return False
    return True
