"""A throwaway MQTT broker (mosquitto) on a free local port, which tests kill (SIGKILL) and start
again on the same port (tests/integration/test_relay_mqtt.py). It keeps retained messages in
memory only, so a restart loses them: the harder case for the relay."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from tests.broker_process import BrokerProcess


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    candidate = Path("/usr/sbin/mosquitto")
    return str(candidate) if candidate.is_file() else None


class MqttBroker(BrokerProcess):
    name = "mosquitto"
    start_timeout = 10.0

    def __init__(self, binary: str) -> None:
        super().__init__(binary, "mqtt")
        self.config = Path(self._dir.name) / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest none\nmax_inflight_messages 0\nmax_queued_messages 0\n")

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.config)]

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False


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
