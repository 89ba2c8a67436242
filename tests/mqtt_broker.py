"""A throwaway MQTT broker (mosquitto) on a free local port, which tests kill (SIGKILL) and start
again on the same port (tests/integration/test_relay_mqtt.py). It keeps retained messages in
memory only, so a restart loses them: the harder case for the relay."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.conftest import free_port


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    candidate = Path("/usr/sbin/mosquitto")
    return str(candidate) if candidate.is_file() else None


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class MqttBroker:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="mqtt-test-")
        self.config = Path(self._dir.name) / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest none\nmax_inflight_messages 0\nmax_queued_messages 0\n")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        if self._process is not None:
            return
        self._process = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"mosquitto did not start on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        if self._process is None:
            return
        self._process.kill()
        self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> MqttBroker:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()
        self._dir.cleanup()


async def retained(url: str, topics: str, count: int, wait: float = 2.0) -> dict[str, object]:
    """The retained messages on `topics` (a filter) as a fresh subscriber gets them: topic ->
    decoded JSON; stops at `count` topics or after `wait` seconds."""
    import asyncio
    import uuid
    from urllib.parse import urlsplit

    import aiomqtt
    import orjson

    parts = urlsplit(url)
    found: dict[str, object] = {}
    async with aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883,
                              identifier=f"test-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(topics, qos=1)
        try:
            async with asyncio.timeout(wait):
                async for message in client.messages:
                    if message.retain:
                        found[str(message.topic)] = orjson.loads(bytes(message.payload))  # type: ignore[arg-type]
                    if len(found) >= count:
                        break
        except TimeoutError:
            pass
    return found
