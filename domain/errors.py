"""The business failures, one class per contract code: raised by domain/rules.py and store/,
turned into userErrors by schema/payloads.py."""

from __future__ import annotations

from collections.abc import Sequence


class StockError(Exception):
    """A business-rule failure; `code` is the contract's UserErrorCode name."""

    code = "INVALID_INPUT"

    def __init__(self, message: str, field: Sequence[str | int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = [str(part) for part in field] if field is not None else None

    @property
    def errors(self) -> list[StockError]:
        return [self]

    def at(self, *prefix: str | int) -> StockError:
        """The same error with its field path placed under `prefix` (e.g. "input", "lines", 2)."""
        return type(self)(self.message, [*prefix, *(self.field or [])])


class NotFound(StockError):
    code = "NOT_FOUND"


class InvalidQuantity(StockError):
    code = "INVALID_QUANTITY"


class InsufficientStock(StockError):
    code = "INSUFFICIENT_STOCK"


class VersionConflict(StockError):
    code = "VERSION_CONFLICT"


class ReservationNotActive(StockError):
    code = "RESERVATION_NOT_ACTIVE"


class IdempotencyKeyReused(StockError):
    code = "IDEMPOTENCY_KEY_REUSED"


class InvalidInput(StockError):
    code = "INVALID_INPUT"


class InvalidState(StockError):
    """The object exists but its state forbids this (e.g. cancelling received stock)."""

    code = "INVALID_STATE"


class Rejected(StockError):
    """Several failures of one request (e.g. the lines of a cart); it changed nothing."""

    def __init__(self, errors: Sequence[StockError]) -> None:
        super().__init__(errors[0].message, errors[0].field)
        self.code = errors[0].code
        self._errors = list(errors)

    @property
    def errors(self) -> list[StockError]:
        return self._errors

    def at(self, *prefix: str | int) -> StockError:
        return Rejected([e.at(*prefix) for e in self._errors])


ERRORS_BY_CODE: dict[str, type[StockError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        InvalidQuantity,
        InsufficientStock,
        VersionConflict,
        ReservationNotActive,
        IdempotencyKeyReused,
        InvalidInput,
        InvalidState,
    )
}
