"""The rules of one bulk stock line applied to a level in memory, in input order (called by
store.bulk_levels under the levels' row locks, and by unit tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.errors import InsufficientStock, InvalidQuantity, StockError, VersionConflict
from domain.model import AdjustmentReason, available_quantity
from domain.outcome import Outcome
from domain.rules import MAX_FIGURE


@dataclass(frozen=True, slots=True)
class StockLine:
    """One line of bulkAdjustStock (`delta` and `reason`) or bulkSetStock (`on_hand`)."""

    sku: str
    location: str
    delta: int = 0
    reason: AdjustmentReason | None = None
    on_hand: int | None = None
    safety_stock: int | None = None
    expected_version: int | None = None
    reference: str | None = None
    idempotency_key: str | None = None

    @property
    def is_set(self) -> bool:
        return self.on_hand is not None

    def arguments(self) -> dict[str, Any]:
        """What a retry must repeat: exactly the single adjustStock's or setStock's arguments,
        so a key used by one counts as applied in the other."""
        if self.is_set:
            return {"sku": self.sku, "location": self.location, "on_hand": self.on_hand,
                    "safety_stock": self.safety_stock,
                    "expected_version": self.expected_version, "reference": self.reference}
        return {"sku": self.sku, "location": self.location, "delta": self.delta,
                "reason": self.reason, "reference": self.reference}


@dataclass(slots=True)
class LevelState:
    """A level as the lines before have left it; `exists` False until a line creates it."""

    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    version: int = 0
    incoming: int = 0
    exists: bool = False

    @property
    def available(self) -> int:
        return available_quantity(self.on_hand, self.reserved, self.safety_stock)


def apply(level: LevelState, line: StockLine, sku_on_hand: int, max_quantity: int) -> int:
    """Apply `line` to `level` (changed in place) as adjustStock or setStock would, given the
    SKU's on-hand total before it; the change of on_hand. Raises the single mutation's error
    and leaves `level` untouched."""
    if line.on_hand is not None:
        delta = _set(level, line)
        field = "on_hand"
    else:
        delta = _adjust(level, line, max_quantity)
        field = "delta"
    if sku_on_hand + delta > MAX_FIGURE:
        raise InvalidQuantity(f"{line.sku}'s total on hand would exceed {MAX_FIGURE}", [field])
    if line.on_hand is not None:
        level.safety_stock = _safety(level, line)
    level.on_hand += delta
    level.version = level.version + 1 if level.exists else 1
    level.exists = True
    return delta


def _safety(level: LevelState, line: StockLine) -> int:
    if line.safety_stock is not None:
        return line.safety_stock
    return level.safety_stock if level.exists else 0


def _adjust(level: LevelState, line: StockLine, max_quantity: int) -> int:
    if line.delta > 0:
        if level.exists and level.on_hand + line.delta > max_quantity:
            raise InvalidQuantity(
                f"{line.location} would hold more than {max_quantity} {line.sku}", ["delta"])
        return line.delta
    if not level.exists or level.on_hand + line.delta < level.reserved:
        raise InsufficientStock(
            f"{line.location} holds fewer than {-line.delta} unreserved {line.sku}", ["delta"])
    return line.delta


def _set(level: LevelState, line: StockLine) -> int:
    assert line.on_hand is not None
    expected = line.expected_version
    if not level.exists:
        if expected not in (None, 0):
            raise VersionConflict(f"{line.sku} has no level at {line.location} yet",
                                  ["expected_version"])
        return line.on_hand
    if expected is not None and level.version != expected:
        raise VersionConflict(f"level is at version {level.version}, not {expected}",
                              ["expected_version"])
    if line.on_hand < level.reserved:
        raise InsufficientStock(
            f"{level.reserved} are reserved; on_hand cannot go below that", ["on_hand"])
    return line.on_hand - level.on_hand


def refusal(error: StockError, index: int) -> StockError:
    """A line's error named under its place in the input: ["lines", index, ...]."""
    return error.at("lines", index)


@dataclass(slots=True)
class BulkOutcome:
    """One outcome per line, in input order (errors named within the line), and the refusal of
    the whole call (too many lines), if any; `applied` False when nothing was applied."""

    lines: list[Outcome]
    error: StockError | None = None
    applied: bool = True
