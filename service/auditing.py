"""Checking levels against the ledger and the reservations, and repairing drift (called by
cli.py `check`)."""

from __future__ import annotations

import asyncpg

from store import audit
from store.audit import Drift


async def find_drift(pool: asyncpg.Pool) -> tuple[list[Drift], list[str]]:
    """Levels that disagree with the ledger or the reservations, and SKU sequence drift."""
    async with pool.acquire() as conn:
        return await audit.find_drift(conn)


async def repair(pool: asyncpg.Pool) -> list[str]:
    """Repair every drift found; returns what could not be repaired."""
    async with pool.acquire() as conn:
        return await audit.repair(conn)
