"""What `check` finds when levels, reservations and the ledger disagree (store.audit finds it,
cli.py reports it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LevelDrift:
    """A level whose on hand differs from its ledger, or whose reserved differs from its
    ACTIVE holds (a bundle hold's component rows at it included) or the ledger's reserved
    deltas."""

    sku: str
    location: str
    on_hand: int
    reserved: int
    ledger_on_hand: int
    ledger_reserved: int
    active_reserved: int


@dataclass(frozen=True, slots=True)
class SequenceDrift:
    """A SKU whose last handed-out sequence is not its ledger's latest."""

    sku: str
    last_sequence: int
    ledger_sequence: int
