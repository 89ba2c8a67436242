"""Checking levels against the ledger and the reservations, and repairing drift (called by
cli.py `check`)."""

from __future__ import annotations

import asyncpg

from domain.drift import LevelDrift, SequenceDrift
from store import audit


async def find_drift(pool: asyncpg.Pool) -> tuple[list[LevelDrift], list[SequenceDrift]]:
    """Levels that disagree with the ledger or the reservations, and SKU sequence drift."""
    async with pool.acquire() as conn:
        return await audit.find_drift(conn)


async def repair(pool: asyncpg.Pool) -> list[LevelDrift]:
    """Repair every drift found; returns the levels that could not be repaired."""
    async with pool.acquire() as conn:
        return await audit.repair(conn)
