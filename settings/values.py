"""How an environment variable's text becomes a value, for every settings module's from_env;
each refusal is a ValueError naming the variable."""

from __future__ import annotations

import re
from collections.abc import Mapping

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")


def integer(env: Mapping[str, str], name: str, default: int, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """`default` when unset or empty; an integer within [minimum, maximum] otherwise."""
    raw = (env.get(name) or "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if maximum is not None and minimum is not None and not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {value}")
    if minimum == 1 and value < 1:
        raise ValueError(f"{name} must be positive, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return value


def flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def duration(text: str, name: str) -> float:
    """Seconds in `text` (`500ms`, `30s`, `2m`, `24h`, `7d` or plain seconds)."""
    found = DURATION.match(text.strip())
    if found is None:
        raise ValueError(f"{name} must be a duration like 30s, 2m, 24h or 7d, got {text!r}")
    return float(found[1]) * UNITS[found[2] or "s"]
