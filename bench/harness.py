"""What every scenario shares: the config, the databases, starting the server under test,
CPU accounting for a window, optional profiles, and the rows of the report."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench import profiler
from bench.config import Config
from bench.load import Tally
from bench.measure import CpuWindow, latency_ms
from bench.pg import Databases
from bench.serverproc import Server

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One figure beside its ceiling. `ratio` is figure / ceiling for rates, and
    ceiling / figure for latencies and sizes (so above 1 always means better than ceiling)."""

    scenario: str
    figure: str
    value: float
    unit: str
    ceiling: float | None = None
    ceiling_name: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    note: str = ""


def rate_row(scenario: str, figure: str, value: float, ceiling: float, ceiling_name: str,
             target: float | None = None, cpu: dict[str, float] | None = None,
             note: str = "") -> Row:
    ratio = value / ceiling if ceiling else math.nan
    return Row(scenario, figure, round(value, 1), "/s", round(ceiling, 1), ceiling_name,
               round(ratio, 2), f">= {target}x" if target is not None else "",
               None if target is None else ratio >= target, cpu or {}, note)


class Harness:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.dbs = Databases(config.database_url, config.run_id, config.keep_databases)
        self.rows: list[Row] = []
        self.details: dict[str, object] = {}
        self.redis_port = str(urlsplit(config.redis_url).port or 6379)

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        ratio = "" if row.ratio is None else f"  ratio {row.ratio}"
        self.log(f"{row.scenario}: {row.figure} = {row.value}{row.unit}{ratio}")

    def server_env(self, database_url: str, prefix: str) -> dict[str, str]:
        return {
            "DATABASE_URL": database_url,
            "REDIS_URL": self.config.redis_url,
            "FEED_CHANNEL_PREFIX": f"bench-{self.config.run_id}-{prefix}",
            "ADMIN_API_KEY": self.config.admin_key,
            "DB_POOL_MAX_SIZE": str(self.config.server_pool),
            "RATE_LIMIT_PER_KEY": "0",  # 0 = off: the figures are the server's, not a budget's
            "RATE_LIMIT_ANONYMOUS": "0",
            "MAX_CONNECTIONS_PER_KEY": "1000000",
            # every bench subscriber comes from 127.0.0.1
            "MAX_ANONYMOUS_FEEDS_PER_ADDRESS": "1000000",
            "PYTHONUNBUFFERED": "1",
            # INFO, as production runs: a JSON line per operation and per stock change
            # (into the server's log file; BENCH_LOG_LEVEL=WARNING leaves them out)
            "LOG_LEVEL": self.config.log_level,
        }

    @contextlib.asynccontextmanager
    async def server(self, database_url: str, prefix: str, extra_args: tuple[str, ...] = (),
                     env: dict[str, str] | None = None,
                     workers: int | None = None) -> AsyncIterator[Server]:
        """`python server.py serve` with the run's worker count unless `workers` is given.
        `serve` never offers permessage-deflate, so uvicorn's deflate flag is dropped."""
        args = tuple(a for a in extra_args
                     if a not in ("--ws-per-message-deflate", "false", "true"))
        server = Server({**self.server_env(database_url, prefix), **(env or {})}, args,
                        self.config.workers if workers is None else workers)
        try:
            await server.start()
            yield server
            if not server.alive():
                raise RuntimeError("server died during the run:\n" + server.tail())
        finally:
            server.stop()

    def cpu(self, server: Server | None = None) -> CpuWindow:
        return CpuWindow(f"bench_{self.config.run_id}_", f":{self.redis_port}",
                         server.ps if server else None)

    def profile(self, name: str) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        return RESULTS / f"profile-{re.sub(r'[^A-Za-z0-9_]+', '-', name).strip('-')}.txt"

    def measured(self, server: Server | None, profile_as: str = "") -> Measured:
        return Measured(self, server, profile_as)


class Measured:
    """`start` (handed to a load loop as on_start) opens the CPU window and, with --profile
    and a name, samples the server for up to 10 s; `stop` closes both."""

    def __init__(self, h: Harness, server: Server | None, profile_as: str) -> None:
        self.h = h
        self.server = server
        self.window = h.cpu(server)
        self.profile_as = profile_as if h.config.profile and server is not None else ""
        self.sampling: asyncio.Task[dict[str, object]] | None = None
        self.cpu: dict[str, float] | None = None

    def start(self) -> None:
        self.window.start()
        if self.profile_as and self.server is not None and profiler.py_spy() is not None:
            seconds = min(self.h.config.seconds, 10.0)
            self.sampling = asyncio.create_task(profiler.record(
                self.server.pid, seconds, self.h.profile(self.profile_as)))

    def end(self) -> None:
        """Close the CPU window now (while the load's processes still exist)."""
        if self.cpu is None:
            self.cpu = self.window.stop()

    async def stop(self) -> dict[str, float]:
        self.end()
        assert self.cpu is not None
        cpu = self.cpu
        if self.sampling is not None:
            self.h.details[f"profile_{self.profile_as}"] = await self.sampling
        return cpu


def cpu_share(cpu: dict[str, float]) -> dict[str, float]:
    """CPU seconds per wall second (1.0 = one core busy) for each party."""
    wall = cpu.get("wall_s") or 1.0
    return {k.removesuffix("_cpu_s"): round(v / wall, 2) for k, v in cpu.items()
            if k.endswith("_cpu_s")}


def tally_summary(tally: Tally, cpu: dict[str, float]) -> dict[str, object]:
    return {"seconds": round(tally.seconds, 2), "outcomes": dict(tally.outcomes),
            "total_outcomes": dict(tally.total), **latency_ms(tally.latencies),
            "cpu_s": cpu, "cores": cpu_share(cpu)}
