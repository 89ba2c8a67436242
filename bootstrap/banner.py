"""What `python server.py serve` prints on stderr once it listens: the version, the URLs it
serves, the database; cli.py's serve runs uvicorn through BannerServer to print it."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import uvicorn

from settings import Settings
from settings.version import version
from store.database import embedded_log

PAGES = (  # (what, path): what a person opens first
    ("GraphiQL", "/graphql"),
    ("console", "/console"),
    ("demo", "/demo"),
    ("metrics", "/metrics"),
    ("health", "/readyz"),
)


def base_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens: a wildcard address becomes loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" if user else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def database(settings: Settings) -> str:
    """Which database: the embedded one's directory and its log, or DATABASE_URL without its
    password."""
    if settings.database_url:
        return without_password(settings.database_url)
    data = settings.data_dir
    return (f"embedded PostgreSQL in {_shown(data / 'pg')} (start-up log "
            f"{_shown(embedded_log(data))}, server log {_shown(data / 'pg' / 'log')})")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


def banner(settings: Settings, host: str, port: int, *, workers: int = 1) -> str:
    url = base_url(host, port)
    lines = [f"inventory-server {version()} listening on {url}"
             + (f" ({workers} workers)" if workers > 1 else "")]
    lines += [f"  {what:<9} {url}{path}" for what, path in PAGES]
    lines.append(f"  {'database':<9} {database(settings)}")
    width = max(len(line) for line in lines)
    rule = "-" * min(width, 100)
    return "\n".join([rule, *lines, rule])


class BannerServer(uvicorn.Server):
    """uvicorn's server, printing the banner once its socket listens (with the port it got:
    `--port 0` works) and the app has started. Relies on `Server.startup`, `started` and
    `servers` (uvicorn 0.54, public but undocumented), guarded by tests/api/test_banner.py."""

    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        super().__init__(config)
        self.settings = settings

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started or self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        print(banner(self.settings, self.config.host or str(host), port), file=sys.stderr,
              flush=True)
