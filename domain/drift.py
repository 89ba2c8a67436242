"""What `check` finds when levels, reservations and the ledger disagree (store.audit finds it,
cli.py reports it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LevelDrift:
    """A level whose on hand differs from its ledger, whose reserved differs from its ACTIVE
    holds (a bundle hold's component rows at it included) or the ledger's reserved deltas, or
    whose incoming differs from its open incoming stock (or the ledger's incoming deltas)."""

    sku: str
    location: str
    on_hand: int
    reserved: int
    ledger_on_hand: int
    ledger_reserved: int
    active_reserved: int
    incoming: int = 0
    ledger_incoming: int = 0
    open_incoming: int = 0


@dataclass(frozen=True, slots=True)
class SequenceDrift:
    """A SKU whose last handed-out sequence is not its ledger's latest."""

    sku: str
    last_sequence: int
    ledger_sequence: int
