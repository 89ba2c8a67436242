"""Command line: `python server.py <command>` (serve, migrate, seed, keys, check, ...); opens
what it needs through bootstrap/, and `serve` runs uvicorn on server.py's create_app."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from typing import Any

from bootstrap.banner import BannerServer, banner
from bootstrap.resources import database_url, open_inventory, open_pool
from domain.access import ApiKey, Scope
from domain.drift import LevelDrift, SequenceDrift
from ops import logs
from schema.root import build_schema
from service import auditing, keys
from settings import Settings
from settings.version import version
from store import migrations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description=__doc__)
    parser.add_argument("--version", action="version", version=f"inventory-server {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true")
    serve.add_argument("--seed", action="store_true", help="load the demo catalogue first")
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser("seed", help="load the demo catalogue (skipped if SKUs exist)")
    commands.add_parser("export-schema", help="print the served schema as SDL")
    check = commands.add_parser(
        "check", help="verify levels against the ledger, the reservations and incoming stock"
    )
    check.add_argument("--repair", action="store_true", help="repair the drift found")
    keys = commands.add_parser("keys", help="create, list, revoke API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="create a key; prints its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True,
                        choices=[s.value for s in Scope])
    create.add_argument("--location", action="append",
                        help="bind the key to these locations (repeatable)")
    create.add_argument("--rate-limit", type=_rate, metavar="N",
                        help="its own requests/s (0: unlimited); default RATE_LIMIT_PER_KEY")
    keys.add_parser("list", help="list keys (never their secrets)")
    rate = keys.add_parser("set-rate-limit", help="give a key its own requests/s")
    rate.add_argument("key")
    rate.add_argument("limit", type=_rate_or_default, metavar="N",
                      help="requests/s, 0 for unlimited, `default` for RATE_LIMIT_PER_KEY")
    revoke = keys.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("key")
    scopes = keys.add_parser("set-scopes", help="replace a key's scopes")
    scopes.add_argument("key")
    scopes.add_argument("--scope", action="append", required=True,
                        choices=[s.value for s in Scope])
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings.log_level, json=args.command == "serve" and settings.log_json)
    if args.command == "export-schema":
        print(build_schema().as_str())
        return 0
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "keys":
        return asyncio.run(_keys(settings, args))
    if args.command == "check":
        return asyncio.run(_check(settings, args.repair))
    if args.command == "seed" or getattr(args, "seed", False):
        asyncio.run(_seed(settings))
    if args.command == "serve":
        return _serve(settings, args)
    return 0


def _rate(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"a rate limit is a whole number >= 0, not {raw!r}")
    return value


def _rate_or_default(raw: str) -> int | None:
    return None if raw == "default" else _rate(raw)


async def _migrate(settings: Settings) -> int:
    async with open_pool(settings, min_size=1, max_size=1, migrate=False) as pool:
        async with pool.acquire() as conn:
            applied = await migrations.migrate(conn)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    async with open_inventory(settings) as inventory:
        pool = inventory.pool
        if args.action == "create":
            token, key = await keys.create_key(
                pool, args.name, [Scope(s) for s in args.scope], args.location, args.rate_limit
            )
            print(f"created key {key.key_id} ({key.name}); its secret, shown only now:")
            print(token)
        elif args.action == "list":
            for found in await keys.list_keys(pool):
                print(_describe(found))
        elif args.action == "revoke":
            if not await keys.revoke_key(pool, args.key):
                print(f"no live key {args.key!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.key}")
        elif args.action == "set-scopes":
            if not await keys.set_scopes(pool, args.key, [Scope(s) for s in args.scope]):
                print(f"no key {args.key!r}", file=sys.stderr)
                return 1
            print(f"{args.key} now has {', '.join(args.scope)}")
        elif args.action == "set-rate-limit":
            if not await keys.set_rate_limit(pool, args.key, args.limit):
                print(f"no key {args.key!r}", file=sys.stderr)
                return 1
            print(f"{args.key} now has rate limit {_rate_text(args.limit)}")
    return 0


def _rate_text(limit: int | None) -> str:
    return "default" if limit is None else "unlimited" if limit == 0 else f"{limit}/s"


def _describe(key: ApiKey) -> str:
    where = ",".join(key.locations) if key.locations is not None else "*"
    state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
    return (f"{key.key_id:>4}  inv_{key.prefix}_…  {key.name:<24} "
            f"{','.join(key.scopes):<40} {where:<20} rate {_rate_text(key.rate_limit):<10} "
            f"{state}")


def _level_drift(d: LevelDrift) -> str:
    return (f"{d.sku}@{d.location}: onHand {d.on_hand} (ledger {d.ledger_on_hand}), reserved "
            f"{d.reserved} (ACTIVE reservations {d.active_reserved}, ledger "
            f"{d.ledger_reserved}), incoming {d.incoming} (open incoming {d.open_incoming}, "
            f"ledger {d.ledger_incoming})")


def _sequence_drift(d: SequenceDrift) -> str:
    return f"{d.sku}: last_sequence {d.last_sequence}, ledger {d.ledger_sequence}"


async def _check(settings: Settings, repair: bool) -> int:
    async with open_inventory(settings) as inventory:
        levels, sequences = await auditing.find_drift(inventory.pool)
        for problem in [*map(_level_drift, levels), *map(_sequence_drift, sequences)]:
            print(f"drift: {problem}")
        if not levels and not sequences:
            print("ok: levels, reservations, incoming stock and ledger agree")
            return 0
        if not repair:
            print(f"{len(levels) + len(sequences)} problem(s); run `check --repair` to fix")
            return 1
        unrepairable = await auditing.repair(inventory.pool)
        for found in unrepairable:
            print(f"cannot repair: {found.sku}@{found.location}: ledger onHand "
                  f"{found.ledger_on_hand} is below its ACTIVE reservations "
                  f"{found.active_reserved}")
        levels, sequences = await auditing.find_drift(inventory.pool)
        print("repaired" if not levels and not sequences else "drift remains")
        return 1 if unrepairable or levels or sequences else 0


async def _seed(settings: Settings) -> None:
    from service.seed import seed

    changes = logging.getLogger("service.inventory")  # a line per change: hundreds here
    quiet = not logging.getLogger().isEnabledFor(logging.DEBUG)
    if quiet:
        changes.setLevel(logging.WARNING)
    try:
        async with open_inventory(settings) as inventory:
            created = await seed(inventory)
    finally:
        if quiet:
            changes.setLevel(logging.NOTSET)
    print(f"seeded {created} SKUs" if created else "catalogue already present; seed skipped")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from web.http_protocol import BoundedHeadersProtocol
    from web.ws_protocol import LeanWebSocketProtocol

    if not settings.database_url:
        # Start the embedded server here, once, so that every worker shares it.
        os.environ["DATABASE_URL"] = database_url(settings)
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="inventory-metrics-")
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    options: dict[str, Any] = dict(
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        reload=args.reload,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=settings.grace_seconds,
        ws_per_message_deflate=False,
        ws=LeanWebSocketProtocol,
        ws_max_size=settings.max_body_bytes,
        # a WebSocket ping per socket every 45 s, not uvicorn's 20 (0 = none): enough for
        # proxies' idle timeouts (nginx 60 s), a third of the wake-ups at 10,000 sockets
        ws_ping_interval=settings.ws_ping_interval or None,
        # headers within REQUEST_TIMEOUT_SECONDS (web/http_protocol.py; uvicorn has no bound)
        http=BoundedHeadersProtocol,
        limit_concurrency=settings.limit_concurrency or None,  # past it: 503
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        # the client is the rightmost X-Forwarded-For hop outside FORWARDED_ALLOW_IPS
        proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    if args.workers == 1 and not args.reload:
        server = BannerServer(uvicorn.Config("server:create_app", **options), settings)
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again with
        # the handler it found: exit through Python then, so that atexit handlers run (the
        # embedded PostgreSQL stops with the server, as it does on Ctrl-C)
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            server.run()  # prints the banner once it listens
        except KeyboardInterrupt:  # Ctrl-C, raised again after the graceful shutdown
            pass
        return 0 if server.started else 3  # 3: uvicorn's STARTUP_FAILURE
    # workers (or the reloader's child) start behind a socket uvicorn binds first
    print(banner(settings, host, port, workers=args.workers), file=sys.stderr, flush=True)
    uvicorn.run("server:create_app", **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
