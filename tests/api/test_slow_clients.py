"""Slow senders through a real uvicorn: a body that stalls half way is cut with 408 within the
request timeout, on the fast path and on the full path; headers that stall (or never come) are
cut by `serve`'s protocol, web/http_protocol.py (issue 11, item 6)."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from settings import Settings
from tests.conftest import RunningServer
from tests.processes import ROOT, ServerProcess
from web.http_protocol import BoundedHeadersProtocol

TIMEOUT_SECONDS = 1.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, request_timeout_seconds=TIMEOUT_SECONDS)


async def stalled_body(server: RunningServer, extra_headers: str) -> tuple[bytes, float]:
    """Declares 200 bytes, sends 100 and waits: what the server answers, and when."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    body = b'{"query": "{ __typename }", "pad": "' + b"x" * 200
    writer.write(
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + extra_headers.encode() + b"Content-Length: 300\r\n\r\n" + body[:100]
    )
    await writer.drain()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS + 5):
            answer = await reader.read()  # until the server closes the connection
    finally:
        writer.close()
    return answer, time.perf_counter() - started


@pytest.mark.parametrize("path, headers", [
    ("fast", ""), ("full", "Origin: http://elsewhere.example\r\n"),
])
async def test_a_stalled_body_is_cut_with_408(server: RunningServer, path: str,
                                              headers: str) -> None:
    answer, elapsed = await stalled_body(server, headers)
    assert answer.startswith(b"HTTP/1.1 408"), (path, answer[:200])
    assert b'"code":"REQUEST_TIMEOUT"' in answer
    assert TIMEOUT_SECONDS * 0.9 <= elapsed < TIMEOUT_SECONDS + 3, elapsed


class QuickHeaders(BoundedHeadersProtocol):
    header_seconds = TIMEOUT_SECONDS


@pytest.fixture
async def bounded(settings: Settings) -> AsyncIterator[RunningServer]:
    running = RunningServer(settings)
    running.server.config.http = QuickHeaders  # as `serve` runs it
    async with running:
        yield running


async def read_until_closed(reader: asyncio.StreamReader) -> tuple[bytes, float]:
    started = time.perf_counter()
    async with asyncio.timeout(TIMEOUT_SECONDS + 5):
        answer = await reader.read()
    return answer, time.perf_counter() - started


@pytest.mark.parametrize("sent", [b"", b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: "])
async def test_headers_that_stall_are_cut(bounded: RunningServer, sent: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bounded.port)
    try:
        writer.write(sent)
        await writer.drain()
        answer, elapsed = await read_until_closed(reader)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert elapsed < TIMEOUT_SECONDS + 3, elapsed


async def test_prompt_requests_on_a_kept_alive_connection_are_served(
    bounded: RunningServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bounded.port)
    try:
        for _ in range(3):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            await asyncio.sleep(TIMEOUT_SECONDS * 0.6)  # idle between requests: keep-alive's
    finally:
        writer.close()


async def test_oversized_headers_are_refused(bounded: RunningServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bounded.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 20000 + b"\r\n\r\n")
        await writer.drain()
        answer, _ = await read_until_closed(reader)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:100]


class ServeProcess(ServerProcess):
    """`python server.py serve`, which picks the protocol and uvicorn's limits itself."""

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "server.py", "serve", "--port", str(self.port)],
            cwd=ROOT, env=self.env,
        )
        async with asyncio.timeout(30), aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)


async def test_serve_cuts_stalled_headers_and_bounds_concurrency(database_url: str) -> None:
    server = ServeProcess({"DATABASE_URL": database_url, "REQUEST_TIMEOUT_SECONDS": "1",
                           "LIMIT_CONCURRENCY": "3", "LOG_LEVEL": "WARNING"})
    await server.start()
    try:
        stalled = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
        for _, writer in stalled:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        await asyncio.gather(*(writer.drain() for _, writer in stalled))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        refused, _ = await read_until_closed(reader)
        writer.close()
        assert refused.startswith(b"HTTP/1.1 503"), refused  # past LIMIT_CONCURRENCY
        answers = await asyncio.gather(*(read_until_closed(reader) for reader, _ in stalled))
        for answer, elapsed in answers:
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert elapsed < 4, elapsed
        for _, writer in stalled:
            writer.close()
    finally:
        server.stop()
