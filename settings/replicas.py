"""The read replica's settings (DATABASE_READ_URL and its pool, the lag it may have), read by
Settings.from_env; bootstrap/resources.py opens the pool, service/replica_watch.py watches it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from settings.values import integer


@dataclass(frozen=True)
class ReplicaSettings:
    """`url` None: one pool, every read on the primary (nothing else here matters)."""

    url: str | None = None
    pool_min_size: int = 1
    pool_max_size: int = 8
    max_lag: float = 0.5  # seconds; a replica further behind is skipped
    check_interval: float = 0.1  # seconds between lag measurements (their resolution)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReplicaSettings:
        return cls(
            url=env.get("DATABASE_READ_URL") or None,
            pool_min_size=integer(env, "DB_READ_POOL_MIN_SIZE", 1, minimum=1),
            pool_max_size=integer(env, "DB_READ_POOL_MAX_SIZE", 8, minimum=1),
            max_lag=integer(env, "READ_REPLICA_MAX_LAG_MS", 500, minimum=1) / 1000,
            check_interval=integer(env, "READ_REPLICA_CHECK_INTERVAL_MS", 100, minimum=1) / 1000,
        )
