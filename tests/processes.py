"""Server processes for tests that need more than one instance, or a process to measure."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    def __init__(self, env: dict[str, str], *, log: Path | None = None) -> None:
        """`log`: a file that gets the server's log lines (its stderr)."""
        self.log = log
        self._fds: list[int] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.graphql_url = f"{self.url}/graphql"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, env=self.env,
            stderr=None if self.log is None else self._log_file(),
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

    def _log_file(self) -> int:
        assert self.log is not None
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self._fds.append(fd)
        return fd

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        while self._fds:
            os.close(self._fds.pop())
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
