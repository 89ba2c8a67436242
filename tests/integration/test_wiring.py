"""The wiring (bootstrap/): one Redis client per instance, shared by the feed, the rate limit
and /readyz and closed on shutdown; importing server.py or cli.py builds no app."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import aiohttp
import psutil

from settings import Settings
from tests.conftest import ADMIN, RunningServer
from tests.processes import ROOT
from tests.redis_server import RedisServer


def redis_sockets(redis_server: RedisServer) -> int:
    return sum(1 for c in psutil.Process().net_connections(kind="tcp")
               if c.raddr and c.raddr.port == redis_server.port and c.status == "ESTABLISHED")


async def test_one_redis_client_shared_and_closed(
    settings: Settings, redis_url: str, redis_server: RedisServer
) -> None:
    shared = dataclasses.replace(settings, redis_url=redis_url, rate_limit_anonymous=1000)
    before = redis_sockets(redis_server)
    async with RunningServer(shared) as server, aiohttp.ClientSession() as session:
        for query in ('mutation { upsertSku(input: {code: "W-1", name: "w"}) { userErrors { code } } }',
                      "{ __typename }"):  # publishes, then is counted by the rate limit
            async with session.post(server.graphql_url, json={"query": query}, headers=ADMIN) as r:
                assert r.status == 200
        async with session.get(f"{server.url}/readyz") as r:
            assert (await r.json())["redis"] == "ok"
        # the feed's listener, and one pooled connection that served all three
        assert redis_sockets(redis_server) - before == 2
    assert redis_sockets(redis_server) == before


def test_importing_the_entry_points_builds_no_app() -> None:
    check = ("import starlette.applications as s, sys\n"
             "s.Starlette.__init__ = lambda *a, **k: sys.exit('an app was built')\n"
             "import cli\n"
             "assert 'server' not in sys.modules, 'cli imports server'\n"
             "import server\n")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
