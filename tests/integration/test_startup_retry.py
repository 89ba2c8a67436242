"""An instance that starts while its database cannot be reached waits for it (about 10 s)
instead of exiting: bootstrap/resources.py open_pool tries the pool and the migrations again
(the chaos test once restarted an instance during a blip and it exited with 3)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from urllib.parse import urlsplit, urlunsplit

import pytest

from bootstrap.resources import open_pool
from settings import Settings
from tests.pg_proxy import TcpProxy


class Seen(logging.Handler):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


async def test_the_pool_opens_once_the_database_answers(settings: Settings) -> None:
    assert settings.database_url
    proxy = TcpProxy.to(settings.database_url)  # not listening yet: connections are refused
    proxied = dataclasses.replace(settings, database_url=proxy.url(settings.database_url))
    seen = Seen("opening the pool: the database connection broke")
    logging.getLogger("inventory").addHandler(seen)

    async def start() -> int:
        async with open_pool(proxied, min_size=1, max_size=2, migrate=True) as pool:
            found: int = await pool.fetchval("SELECT count(*) FROM schema_migrations")
            return found

    opening = asyncio.create_task(start())
    try:
        async with asyncio.timeout(10):
            await seen.event.wait()  # it failed once and is trying again
        assert not opening.done()
        await proxy.start()
        async with asyncio.timeout(15):
            assert await opening > 0
    finally:
        logging.getLogger("inventory").removeHandler(seen)
        opening.cancel()
        await proxy.close()


async def test_a_failure_that_is_not_the_connection_is_not_retried(settings: Settings) -> None:
    assert settings.database_url
    parts = urlsplit(settings.database_url)  # over a unix socket the query names its directory
    wrong = dataclasses.replace(
        settings, database_url=urlunsplit(parts._replace(path="/no_such_database")))
    with pytest.raises(Exception, match="no_such_database"):
        async with asyncio.timeout(5), open_pool(wrong, min_size=1, max_size=1, migrate=False):
            pass
