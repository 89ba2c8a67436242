"""Server instances for the chaos test: `python server.py serve` subprocesses, each on a port of
its own that it keeps across SIGKILL and restart (tests/chaos/test_chaos.py drives them)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


async def _status(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: chaos\r\nConnection: close\r\n\r\n".encode())
        return int((await reader.readline()).split()[1])
    finally:
        writer.close()


class Instance:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"chaos-{name}-", suffix=".log",
                                               delete=False)
        self.starts = 0
        self.up = asyncio.Event()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def start(self, timeout: float = 60) -> None:
        assert not self.alive()
        self.process = subprocess.Popen(
            [sys.executable, "server.py", "serve", "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.starts += 1
        async with asyncio.timeout(timeout):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                       + self.tail())
                try:
                    if await _status(self.port, "/healthz") == 200:
                        break
                except (OSError, IndexError, ValueError):
                    pass
                await asyncio.sleep(0.1)
        self.up.set()

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, no goodbye to sockets or the database."""
        self.up.clear()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def close(self) -> None:
        self.kill()  # SIGTERM's graceful drain would only make the test slower
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
