"""A real Prometheus for tests (Debian's `prometheus` binary): scrapes given targets every
second, evaluates a rules file every second, answers its HTTP API on a free port."""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import yaml

from tests.conftest import free_port


class PrometheusServer:
    def __init__(self, binary: str, workdir: Path, targets: list[str], rules: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "scrape_timeout": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "inventory",
                                "static_configs": [{"targets": targets}]}],
        }))
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "prometheus.log"

    async def __aenter__(self) -> PrometheusServer:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.config}",
                 f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
        async with asyncio.timeout(30), aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
                try:
                    async with session.get(f"{self.url}/-/ready") as response:
                        if response.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    async def api(self, path: str, **params: str) -> Any:
        async with aiohttp.ClientSession() as session, session.get(
            f"{self.url}/api/v1/{path}", params=params,
            timeout=aiohttp.ClientTimeout(total=5),
        ) as response:
            body = await response.json()
        assert body["status"] == "success", body
        return body["data"]

    async def alerts(self) -> dict[str, str]:
        """Each active alert's name and state (pending, firing)."""
        return {a["labels"]["alertname"]: a["state"] for a in (await self.api("alerts"))["alerts"]}

    async def until(self, what: str, check: Any, seconds: float = 60.0) -> Any:
        """Polls `check()` (an awaitable factory) until it returns something true; fails naming
        `what` after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            found = await check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"after {seconds:.0f} s: {what}; alerts: "
                                     f"{await self.alerts()}")
            await asyncio.sleep(0.25)

    async def evaluated_since(self, moment: float) -> bool:
        """Whether every rule group has been evaluated after `moment` (Unix time)."""
        groups = (await self.api("rules"))["groups"]
        return bool(groups) and all(
            _unix(g["lastEvaluation"]) > moment for g in groups)


def _unix(stamp: str) -> float:
    """Prometheus' RFC 3339 time (UTC, `Z`, up to nanoseconds) as Unix seconds."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}+00:00").timestamp() + float(f"0.{fraction or 0}")
