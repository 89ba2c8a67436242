"""Who may do what: scopes of API keys, and the locations a key is bound to (used by
service.access, store.keys, resolvers.permissions, settings and cli.py)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Scope(enum.Enum):
    READ = "inventory:read"
    RESERVE = "inventory:reserve"
    WRITE = "inventory:write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `locations` None means every location."""

    key_id: int | None
    name: str
    scopes: frozenset[Scope]
    locations: frozenset[str] | None = None
    rate_limit: int | None = None  # requests/s of its own; None: RATE_LIMIT_PER_KEY, 0: none

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def may_touch(self, location: str | None) -> bool:
        if self.locations is None or Scope.ADMIN in self.scopes:
            return True
        return location is not None and location in self.locations

    @property
    def idempotency_scope(self) -> str:
        return f"key:{self.key_id}" if self.key_id is not None else f"name:{self.name}"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key as an operator lists it: never its secret; scopes in stored order."""

    key_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    locations: tuple[str, ...] | None
    created_at: datetime
    revoked_at: datetime | None
    rate_limit: int | None = None


ADMIN = Principal(key_id=None, name="ADMIN_API_KEY", scopes=frozenset(Scope))


def parse_scopes(values: list[str]) -> frozenset[Scope]:
    try:
        return frozenset(Scope(v) for v in values)
    except ValueError:
        known = ", ".join(s.value for s in Scope)
        raise ValueError(f"unknown scope in {values}; known: {known}") from None


MAX_TOKEN_LENGTH = 200


def bearer_token(authorization: str) -> str:
    """The key in an `Authorization: Bearer <key>` value: `Bearer` in any letter case, spaces
    around and between tolerated; ValueError when the value has another shape. Authentication
    and the rate limit both read a caller through this one parse."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH or " " in token:
        raise ValueError("use `Authorization: Bearer <api key>`")
    return token


def key_shaped(token: str) -> bool:
    """Whether `token` looks like a stored key (`inv_<prefix>_<secret>`): others are unknown
    without asking the database."""
    parts = token.split("_", 2)
    return len(parts) == 3 and parts[0] == "inv" and bool(parts[1]) and bool(parts[2])
