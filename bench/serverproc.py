"""The server under test: `python server.py serve --workers N` in a subprocess, the command the
README gives for production, with its output in a log file and its CPU and memory (summed over
its worker processes) readable while it runs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def http_get(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        status = await reader.readline()
        return int(status.split()[1])
    finally:
        writer.close()


class Server:
    def __init__(self, env: dict[str, str], extra_args: tuple[str, ...] = (),
                 workers: int = 1) -> None:
        self.workers = workers
        self.port = free_port()
        self.env = {**os.environ, **env}
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)
        self.ps: psutil.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "server.py", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), *self.extra_args],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.ps = psutil.Process(self.process.pid)
        async with asyncio.timeout(60):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}:\n"
                                       + self.tail())
                try:
                    if await http_get(self.port, "/readyz") == 200:
                        return
                except OSError:
                    pass
                await asyncio.sleep(0.1)

    def family(self) -> list[psutil.Process]:
        assert self.ps is not None
        return [self.ps, *self.ps.children(recursive=True)]

    def rss(self) -> int:
        """Summed over the supervisor and its workers."""
        return sum(int(p.memory_info().rss) for p in self.family())

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
