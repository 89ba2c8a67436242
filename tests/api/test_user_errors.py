"""userErrors name fields as the API does, whether the domain error speaks the domain's words or
was stored with an idempotency key when it still carried the GraphQL names."""

from __future__ import annotations

from domain.errors import (
    IdempotencyKeyReused,
    InsufficientStock,
    NotFound,
    Rejected,
    VersionConflict,
)
from domain.outcome import Outcome
from schema.payloads import user_errors
from store import idempotency


def wire(outcome: Outcome) -> list[tuple[str, list[str] | None, str]]:
    return [(e.code.value, e.field, e.message) for e in user_errors(outcome)]


def test_domain_words_become_argument_names_in_field_and_message() -> None:
    outcome = Outcome(error=Rejected([
        InsufficientStock("3 are reserved; on_hand cannot go below that", ["on_hand"]),
        VersionConflict("level is at version 2, not 1", ["expected_version"]),
        IdempotencyKeyReused("this idempotency_key was used with a different input", ["idempotency_key"]),
        NotFound("unknown SKU 'X'", ["lines", 2, "sku"]),
    ]))
    assert wire(outcome) == [
        ("INSUFFICIENT_STOCK", ["input", "onHand"], "3 are reserved; onHand cannot go below that"),
        ("VERSION_CONFLICT", ["input", "expectedVersion"], "level is at version 2, not 1"),
        ("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"], "this idempotencyKey was used with a different input"),
        ("NOT_FOUND", ["input", "lines", "2", "sku"], "unknown SKU 'X'"),
    ]


def test_outcomes_stored_before_and_after_the_rename_replay_alike() -> None:
    new = InsufficientStock("3 are reserved; on_hand cannot go below that", ["on_hand"])
    old = {"reservations": [], "level": None, "errors": [
        {"code": "INSUFFICIENT_STOCK", "message": "3 are reserved; onHand cannot go below that",
         "field": ["onHand"]}]}
    replayed_new = idempotency.decode(idempotency.encode(Outcome(error=new)))
    assert wire(replayed_new) == wire(idempotency.decode(old)) == [
        ("INSUFFICIENT_STOCK", ["input", "onHand"], "3 are reserved; onHand cannot go below that")]


def test_an_error_without_a_field_is_the_input_at_fault() -> None:
    assert wire(Outcome(error=InsufficientStock("the change would break a stock invariant"))) == [
        ("INSUFFICIENT_STOCK", ["input"], "the change would break a stock invariant")]
