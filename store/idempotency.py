"""Idempotency records: the first result of a keyed mutation, kept for its retries (called by
service.inventory, and by service.expiry to prune them)."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from domain.errors import ERRORS_BY_CODE, Rejected, StockError
from domain.model import (
    HeldComponent,
    Incoming,
    IncomingSource,
    IncomingStatus,
    Reservation,
    ReservationStatus,
    StockLevel,
    Transfer,
    TransferLine,
    TransferStatus,
)
from domain.outcome import Outcome

CLAIM = """
INSERT INTO idempotency_keys (scope, key, request_hash, response) VALUES ($1, $2, $3, 'null')
ON CONFLICT (scope, key) DO NOTHING
RETURNING true
"""
FETCH = "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2"
SAVE = "UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2"
PURGE = "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)"


def _canonical(value: Any) -> str:
    """A time is one instant however it was written: in UTC (as str() wrote UTC ones before,
    so keys stored then still match)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return str(value.astimezone(UTC))
    return str(value)


def request_hash(arguments: dict[str, Any]) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(conn: asyncpg.Connection, scope: str, key: str, digest: str) -> bool:
    """True if this transaction owns the key; waits while a concurrent owner is in flight."""
    return bool(await conn.fetchval(CLAIM, scope, key, digest))


async def fetch(conn: asyncpg.Connection, scope: str, key: str) -> tuple[str, Any]:
    r = await conn.fetchrow(FETCH, scope, key)
    return r["request_hash"], r["response"]


async def save(conn: asyncpg.Connection, scope: str, key: str, outcome: Outcome) -> None:
    await conn.execute(SAVE, scope, key, encode(outcome))


async def purge(conn: asyncpg.Connection, retention_hours: int) -> None:
    await conn.execute(PURGE, retention_hours)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _fields(obj: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def encode(outcome: Outcome) -> dict[str, Any]:
    errors = outcome.error.errors if outcome.error else []
    return {
        "reservations": [_reservation_fields(r) for r in outcome.reservations],
        "level": _fields(outcome.level) if outcome.level else None,
        "errors": [{"code": e.code, "message": e.message, "field": e.field} for e in errors],
        "incoming": _fields(outcome.incoming) if outcome.incoming else None,
        "transfer": _transfer_fields(outcome.transfer) if outcome.transfer else None,
        "shortfall": outcome.shortfall,
    }


def _transfer_fields(transfer: Transfer) -> dict[str, Any]:
    return {**_fields(transfer), "lines": [_fields(line) for line in transfer.lines]}


def _decode_transfer(t: dict[str, Any]) -> Transfer:
    return Transfer(**{
        **t,
        "status": TransferStatus(t["status"]),
        "lines": tuple(TransferLine(**line) for line in t["lines"]),
        "expected_at": datetime.fromisoformat(t["expected_at"]) if t["expected_at"] else None,
        "created_at": datetime.fromisoformat(t["created_at"]),
    })


def _reservation_fields(reservation: Reservation) -> dict[str, Any]:
    return {**_fields(reservation),
            "components": [_fields(c) for c in reservation.components]}


def decode(data: dict[str, Any]) -> Outcome:
    reservations = [
        Reservation(**{
            **r,
            "status": ReservationStatus(r["status"]),
            "expires_at": datetime.fromisoformat(r["expires_at"]),
            "created_at": datetime.fromisoformat(r["created_at"]),
            # stored before bundles: no components
            "components": tuple(HeldComponent(**c) for c in r.get("components", ())),
        })
        for r in data["reservations"]
    ]
    level = data["level"]
    outcome = Outcome(
        reservations=reservations,
        level=StockLevel(**{**level, "updated_at": datetime.fromisoformat(level["updated_at"])})
        if level
        else None,
        shortfall=data.get("shortfall", 0),
    )
    if (incoming := data.get("incoming")) is not None:
        outcome.incoming = Incoming(**{
            **incoming,
            "status": IncomingStatus(incoming["status"]),
            "source": IncomingSource(incoming["source"]),
            "expected_at": datetime.fromisoformat(incoming["expected_at"]),
            "created_at": datetime.fromisoformat(incoming["created_at"]),
        })
    if (transfer := data.get("transfer")) is not None:
        outcome.transfer = _decode_transfer(transfer)
    errors: list[StockError] = [
        ERRORS_BY_CODE[e["code"]](e["message"], e["field"]) for e in data["errors"]
    ]
    if errors:
        outcome.error = errors[0] if len(errors) == 1 else Rejected(errors)
    return outcome
