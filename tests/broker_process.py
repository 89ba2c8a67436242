"""A throwaway broker process on a free local port with its own directory, which tests kill
(SIGKILL) and start again on the same port (tests/mqtt_broker.py, tests/nats_server.py)."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.conftest import free_port


class BrokerProcess:
    """`command()` starts it; `answers()` says it is ready for clients."""

    name = "broker"
    start_timeout = 15.0  # seconds until it answers

    def __init__(self, binary: str, scheme: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix=f"{self.name}-test-")
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, timeout: float | None = None) -> None:
        if self._process is not None:
            return
        timeout = self.start_timeout if timeout is None else timeout
        log = Path(self._dir.name) / "broker.log"
        with log.open("ab") as out:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                self.command(), stdout=subprocess.DEVNULL, stderr=out)
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                said = log.read_text(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(f"{self.name} did not start on port {self.port}: {said}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: nothing flushed, no goodbye to clients."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()
        self._dir.cleanup()
