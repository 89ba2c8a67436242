"""Slow senders through a real uvicorn: a body that stalls half way is cut with 408 within the
request timeout, on the fast path and on the full path (issue 11, item 6)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from settings import Settings
from tests.conftest import RunningServer

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
