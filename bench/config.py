"""What a run measures and against what, read once from the command line and the environment."""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]

SCENARIOS = ("hot", "many", "reads", "fanout", "caching")
EXTRA = ("cluster", "instances", "peer")  # only when asked with --only (bench/cluster.py, ...)


def _ints(raw: str) -> tuple[int, ...]:
    return tuple(int(part) for part in raw.replace(" ", "").split(",") if part)


@dataclass(frozen=True)
class Config:
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    seconds: float = 20.0
    quick: bool = False
    scenarios: tuple[str, ...] = SCENARIOS
    hot_clients: tuple[int, ...] = (50, 200, 800)
    main_clients: int = 200
    ceiling_pools: tuple[int, ...] = (8, 64)
    server_pool: int = 8
    many_skus: int = 10_000
    read_clients: int = 100
    fanout_subscribers: tuple[int, ...] = (1_000, 5_000, 10_000)
    main_subscribers: int = 5_000
    fanout_skus: int = 500
    changes_per_second: int = 200
    low_rate: int = 20
    ws_deflate: bool = True
    ws_per_process: int = 10_000  # subscriber sockets per generator process (bench/ws_fleet.py)
    deflate_off_variant: bool = False
    workers: int = 2
    one_worker_variant: bool = True
    log_level: str = "INFO"
    profile: bool = False
    keep_databases: bool = False
    admin_key: str = field(default_factory=lambda: "bench-" + secrets.token_hex(12))
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))

    @property
    def ceiling_seconds(self) -> float:
        """The asyncpg loops settle within seconds; half the scenario's time, at least 5 s."""
        return max(5.0, self.seconds / 2)

    @property
    def read_seconds(self) -> float:
        return max(5.0, self.seconds / 2)


def parse(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the inventory server against real PostgreSQL and Redis. "
        "Every figure is printed beside a ceiling measured in the same run.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="5 s per measurement and smaller growth steps")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS + EXTRA)}")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per measurement "
                        "(default BENCH_SECONDS or 20; 5 with --quick)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the server with py-spy during hot SKU and fan-out "
                        "(perturbs the figures; use for a separate run)")
    parser.add_argument("--keep-databases", action="store_true",
                        help="leave the bench_* databases for inspection")
    args = parser.parse_args(argv)
    only = tuple(s for s in args.only.split(",") if s)
    unknown = set(only) - set(SCENARIOS + EXTRA)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    seconds = args.seconds or float(env.get("BENCH_SECONDS") or (5 if args.quick else 20))
    quick = args.quick
    hot = _ints(env.get("BENCH_HOT_CLIENTS") or ("50,200" if quick else "50,200,800"))
    subs = _ints(env.get("BENCH_FANOUT_SUBSCRIBERS")
                 or ("500,1000" if quick else "1000,5000,10000"))
    main_clients = int(env.get("BENCH_CLIENTS") or 200)
    main_subscribers = int(env.get("BENCH_SUBSCRIBERS") or (1000 if quick else 5000))
    return Config(
        database_url=env.get("DATABASE_URL") or Config.database_url,
        redis_url=env.get("REDIS_URL") or Config.redis_url,
        seconds=seconds,
        quick=quick,
        scenarios=only,
        hot_clients=tuple(sorted(set(hot) | {main_clients})),
        main_clients=main_clients,
        ceiling_pools=_ints(env.get("BENCH_CEILING_POOLS") or "8,64"),
        server_pool=int(env.get("DB_POOL_MAX_SIZE") or 8),
        many_skus=int(env.get("BENCH_MANY_SKUS") or 10_000),
        read_clients=int(env.get("BENCH_READ_CLIENTS") or 100),
        fanout_subscribers=tuple(sorted(set(subs) | {main_subscribers})),
        main_subscribers=main_subscribers,
        fanout_skus=int(env.get("BENCH_FANOUT_SKUS") or 500),
        changes_per_second=int(env.get("BENCH_CHANGES_PER_SECOND") or 200),
        low_rate=int(env.get("BENCH_LOW_RATE") or 20),
        ws_deflate=(env.get("BENCH_WS_DEFLATE") or "1") not in ("0", "false", "no"),
        ws_per_process=int(env.get("BENCH_WS_PER_PROCESS") or 10_000),
        deflate_off_variant=(env.get("BENCH_DEFLATE_OFF_VARIANT") or "0")
        not in ("0", "false", "no"),
        workers=int(env.get("BENCH_WORKERS") or psutil.cpu_count() or 1),
        one_worker_variant=(env.get("BENCH_ONE_WORKER") or "1") not in ("0", "false", "no"),
        log_level=env.get("BENCH_LOG_LEVEL") or "INFO",
        profile=args.profile,
        keep_databases=args.keep_databases,
    )
