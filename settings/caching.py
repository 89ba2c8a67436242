"""The read cache's and persisted documents' settings (READ_CACHE_MAX_AGE, APQ_*,
PERSISTED_QUERIES_*), read by Settings.from_env; bootstrap/app.py hands them to web/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = (env.get(name) or "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"need {name} >= {minimum}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be true or false, got {raw!r}")


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
        only = _flag(env, "PERSISTED_QUERIES_ONLY")
        if only and not raw_file:
            raise ValueError("PERSISTED_QUERIES_ONLY=true needs PERSISTED_QUERIES_FILE")
        return cls(
            read_cache_max_age=_int(env, "READ_CACHE_MAX_AGE", 0, 0),
            apq_cache_size=_int(env, "APQ_CACHE_SIZE", 1000, 0),
            apq_ttl_seconds=_int(env, "APQ_TTL_SECONDS", 3600, 1),
            persisted_queries_only=only,
            persisted_queries_file=Path(raw_file) if raw_file else None,
            persisted_queries_admin_bypass=_flag(env, "PERSISTED_QUERIES_ADMIN_BYPASS"),
        )
