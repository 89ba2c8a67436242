"""The read cache's and persisted documents' settings (READ_CACHE_MAX_AGE, APQ_*,
PERSISTED_QUERIES_*), read by Settings.from_env; bootstrap/app.py hands them to web/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from settings.values import flag, integer


@dataclass(frozen=True)
class CacheSettings:
    # Cache-Control max-age of a successful GET query (0: caches revalidate every time)
    read_cache_max_age: int = 0
    # automatic persisted queries: documents kept per instance, and in Redis (with REDIS_URL)
    apq_cache_size: int = 1000
    apq_ttl_seconds: int = 3600
    # registered-documents mode: only PERSISTED_QUERIES_FILE's documents run
    persisted_queries_only: bool = False
    persisted_queries_file: Path | None = None
    persisted_queries_admin_bypass: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CacheSettings:
        raw_file = (env.get("PERSISTED_QUERIES_FILE") or "").strip()
        only = flag(env, "PERSISTED_QUERIES_ONLY")
        if only and not raw_file:
            raise ValueError("PERSISTED_QUERIES_ONLY=true needs PERSISTED_QUERIES_FILE")
        return cls(
            read_cache_max_age=integer(env, "READ_CACHE_MAX_AGE", 0, minimum=0),
            apq_cache_size=integer(env, "APQ_CACHE_SIZE", 1000, minimum=0),
            apq_ttl_seconds=integer(env, "APQ_TTL_SECONDS", 3600, minimum=1),
            persisted_queries_only=only,
            persisted_queries_file=Path(raw_file) if raw_file else None,
            persisted_queries_admin_bypass=flag(env, "PERSISTED_QUERIES_ADMIN_BYPASS"),
        )
