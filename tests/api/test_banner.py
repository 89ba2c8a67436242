"""`python server.py serve` as a new user starts it: one short banner on stderr once it listens,
whose URLs answer; the embedded PostgreSQL's initdb/pg_ctl lines go to a file, not the terminal;
`--version` prints pyproject.toml's version."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.processes import ROOT

RULE = re.compile(r"^-{20,}$")
PAGE = re.compile(r"^  (\S+)\s+(http://\S+)$")


@dataclass
class Served:
    banner: list[str]
    lines: list[str]  # every stderr line, the banner's included
    returncode: int | None = None


@asynccontextmanager
async def serving(env: dict[str, str], stop: int = signal.SIGTERM) -> AsyncIterator[Served]:
    """`serve --port 0` until its banner is out; stopped with `stop` after the block."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "server.py", "serve", "--port", "0", cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "info", **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    served = Served([], [])
    drain: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(60):
            while len([line for line in served.banner if RULE.match(line)]) < 2:
                raw = await process.stderr.readline()
                assert raw, f"serve exited before its banner: {served.lines[-20:]}"
                served.lines.append(raw.decode().rstrip("\n"))
                if served.banner or RULE.match(served.lines[-1]):
                    served.banner.append(served.lines[-1])
        drain = asyncio.create_task(_drain(process.stderr, served.lines))
        yield served
    finally:
        if process.returncode is None:
            process.send_signal(stop)
        async with asyncio.timeout(30):
            served.returncode = await process.wait()
            if drain is not None:
                await drain


async def _drain(stream: asyncio.StreamReader, lines: list[str]) -> None:
    while raw := await stream.readline():
        lines.append(raw.decode().rstrip("\n"))


async def answers(banner: list[str]) -> dict[str, int]:
    pages = {m[1]: m[2] for line in banner if (m := PAGE.match(line))}
    status: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        for what, url in pages.items():
            async with session.get(url, headers={"Accept": "text/html"}) as response:
                status[what] = response.status
    return status


async def test_banner_names_the_urls_and_the_database_without_its_password(
    database_url: str,
) -> None:
    url = re.sub(r"^(postgresql://[^:@/]+)(:[^@]*)?@", r"\1:s3cret@", database_url)
    assert "s3cret" in url  # trust authentication ignores the password
    async with serving({"DATABASE_URL": url}) as served:
        banner, lines = served.banner, served.lines
        text = "\n".join(banner)
        version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
        assert re.search(rf"inventory-server {re.escape(version)} listening on "
                         r"http://127\.0\.0\.1:\d+", text), text
        port = re.search(r":(\d+)", banner[1])
        assert port is not None and port[1] != "0"  # the port it got, not the one asked for
        assert "s3cret" not in "\n".join(lines)
        assert url.replace("s3cret", "***") in text
        assert len(banner) <= 10
        status = await answers(banner)
    assert set(status) == {"GraphiQL", "console", "demo", "metrics", "health"}
    assert status == {"GraphiQL": 200, "console": 200, "demo": 200, "metrics": 200,
                      "health": 200}


async def test_embedded_postgres_chatter_goes_to_a_file() -> None:
    # not under pytest's tmp_path: as root the embedded PostgreSQL runs as a system user, and
    # another pytest session on the machine may chmod /tmp/pytest-of-root back to 0700 while
    # it starts (tests/conftest.py's embedded server uses tempfile for the same reason)
    with tempfile.TemporaryDirectory(prefix="inventory-banner-") as tmp:
        await _chatter_goes_to_a_file(Path(tmp) / "data")


async def _chatter_goes_to_a_file(data: Path) -> None:
    async with serving({"DATA_DIR": str(data), "DATABASE_URL": ""}) as served:
        banner, lines = served.banner, served.lines
        text = "\n".join(banner)
        assert f"embedded PostgreSQL in {data / 'pg'}" in text
        assert f"start-up log {data / 'embedded-postgres.log'}" in text
        status = await answers(banner)
        assert status["health"] == 200
    before_banner = lines[:lines.index(banner[0])]
    assert not [line for line in before_banner if "initdb" in line or "pg_ctl" in line]
    assert len(before_banner) < 40, before_banner  # not pages
    chatter = (data / "embedded-postgres.log").read_text()
    assert "initdb" in chatter and "pg_ctl" in chatter
    # SIGTERM: the server exits through Python, so the embedded PostgreSQL stops with it
    assert served.returncode == 128 + signal.SIGTERM
    assert not (data / "pg" / "postmaster.pid").exists()
    assert "stop" in (data / "embedded-postgres.log").read_text().split("initdb")[-1]


async def test_ctrl_c_stops_serve_without_a_traceback(database_url: str) -> None:
    async with serving({"DATABASE_URL": database_url}, stop=signal.SIGINT) as served:
        assert (await answers(served.banner))["health"] == 200
    assert served.returncode == 0
    assert not [line for line in served.lines if "Traceback" in line], served.lines[-30:]


def test_version_flag_prints_pyprojects_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run([sys.executable, "server.py", "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == f"inventory-server {version}"
