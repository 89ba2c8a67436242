"""The GraphQL input types of the mutations and the SKU filter (used by schema.mutation and
schema.query)."""

from __future__ import annotations

import strawberry

from schema.enums import AdjustmentReason, AvailabilityStatus, LocationKind

IDEMPOTENCY = (
    "A retry with the same key and the same input returns the first result and changes "
    "nothing. Keys are scoped per mutation field (and per API key); the same key with a "
    "different input gives IDEMPOTENCY_KEY_REUSED."
)


@strawberry.input
class SkuFilter:
    search: str | None = strawberry.field(
        default=None, description="Prefix or substring match on code or name."
    )
    status: AvailabilityStatus | None = None
    location: str | None = None


@strawberry.input
class UpsertSkuInput:
    code: str
    name: str
    low_stock_threshold: int | None = None


@strawberry.input
class UpsertLocationInput:
    code: str
    name: str
    kind: LocationKind


@strawberry.input
class ReserveInput:
    sku: str
    quantity: int
    location: str | None = strawberry.field(
        default=None,
        description="Where to hold the stock; omitted: the location with the most available "
        "stock that can hold the whole quantity.",
    )
    ttl_seconds: int | None = strawberry.field(
        default=None,
        description="Hold time; the server applies its default (15 minutes) and caps it at "
        "the configured maximum.",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY)
    reference: str | None = strawberry.field(
        default=None,
        description="The caller's cart, checkout or order id, kept on the reservation and "
        "its events.",
    )
    channel: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="(v2) Hold only at this channel's locations; without `location`, at the "
        "first of them in\npriority order that can hold the whole quantity. A `location` "
        "outside the channel gives\nINVALID_INPUT.",
    )
    allow_split: bool | None = strawberry.field(
        default=False,
        description="(v2) When no single location can hold the whole quantity, hold it across "
        "several (in the\nchannel's priority order, else most available first), all or "
        "nothing: one reservation per\nlocation, all in ReservePayload.reservations "
        "(`reservation` and `level` are the first of\nthem). Not for bundles, not with "
        "`location` (INVALID_INPUT). With an idempotencyKey, a retry\nreturns the same "
        "reservations.",
    )


@strawberry.input
class CommitReservationInput:
    reservation_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY)
    reference: str | None = None


@strawberry.input
class ReleaseReservationInput:
    reservation_id: strawberry.ID


@strawberry.input
class ExtendReservationInput:
    reservation_id: strawberry.ID
    ttl_seconds: int = strawberry.field(
        description="New hold time from now, capped at the configured maximum."
    )


@strawberry.input
class ReserveLineInput:
    sku: str
    quantity: int
    location: str | None = None


@strawberry.input
class ReserveLinesInput:
    lines: list[ReserveLineInput] = strawberry.field(
        description="A whole cart: every line is held, or none is. Lines of the same SKU and "
        "location are summed."
    )
    ttl_seconds: int | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY)
    reference: str | None = None
    channel: str | None = strawberry.field(
        default=strawberry.UNSET, description="(v2) Every line through this channel, as in "
        "ReserveInput.channel."
    )


@strawberry.input
class AdjustStockInput:
    sku: str
    location: str
    delta: int = strawberry.field(
        description="Change of onHand: positive for RESTOCK/RETURN, negative for SALE/DAMAGE."
    )
    reason: AdjustmentReason
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY)
    reference: str | None = None


@strawberry.input
class SetStockInput:
    sku: str
    location: str
    on_hand: int
    safety_stock: int | None = None
    expected_version: int | None = strawberry.field(
        default=None,
        description="If given, the write succeeds only while the level's version equals it "
        "(else VERSION_CONFLICT). 0 means: only if the level does not exist yet.",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY)
    reference: str | None = None


@strawberry.input
class UpsertChannelInput:
    code: str
    name: str
    locations: list[str] = strawberry.field(
        description="Location codes, highest sourcing priority first; each must exist."
    )
