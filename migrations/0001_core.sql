-- Core inventory model: SKUs, locations, stock levels, reservations, the stock ledger and
-- idempotency records. Every invariant the API promises is backed by a constraint here.

CREATE TABLE locations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       text NOT NULL UNIQUE,
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('STORE', 'WAREHOUSE')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE skus (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                text NOT NULL UNIQUE,
    name                text NOT NULL,
    low_stock_threshold integer NOT NULL DEFAULT 5 CHECK (low_stock_threshold >= 0),
    -- Sequence of the latest ledger entry of this SKU. Every stock change increments it in the
    -- same transaction that writes the entry, which makes the per-SKU sequence gap-free.
    last_sequence       bigint NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX skus_code_pattern ON skus (code text_pattern_ops);

CREATE TABLE stock_levels (
    sku_id       bigint NOT NULL REFERENCES skus (id),
    location_id  bigint NOT NULL REFERENCES locations (id),
    on_hand      integer NOT NULL DEFAULT 0,
    reserved     integer NOT NULL DEFAULT 0,
    safety_stock integer NOT NULL DEFAULT 0,
    version      integer NOT NULL DEFAULT 1,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku_id, location_id),
    CONSTRAINT on_hand_not_negative CHECK (on_hand >= 0),
    CONSTRAINT reserved_not_negative CHECK (reserved >= 0),
    CONSTRAINT reserved_within_on_hand CHECK (reserved <= on_hand),
    CONSTRAINT safety_stock_not_negative CHECK (safety_stock >= 0),
    CONSTRAINT version_positive CHECK (version >= 1)
);

CREATE INDEX stock_levels_location ON stock_levels (location_id);

CREATE TABLE reservations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sku_id      bigint NOT NULL,
    location_id bigint NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    status      text NOT NULL DEFAULT 'ACTIVE'
                CHECK (status IN ('ACTIVE', 'COMMITTED', 'RELEASED', 'EXPIRED')),
    expires_at  timestamptz NOT NULL,
    reference   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (sku_id, location_id) REFERENCES stock_levels (sku_id, location_id)
);

CREATE INDEX reservations_active_expiry ON reservations (expires_at) WHERE status = 'ACTIVE';
CREATE INDEX reservations_active_level ON reservations (sku_id, location_id) WHERE status = 'ACTIVE';

CREATE TABLE stock_events (
    sku_id          bigint NOT NULL REFERENCES skus (id),
    sequence        bigint NOT NULL CHECK (sequence >= 1),
    kind            text NOT NULL
                    CHECK (kind IN ('RESERVED', 'RELEASED', 'EXPIRED', 'COMMITTED', 'ADJUSTED', 'SET')),
    location_id     bigint NOT NULL REFERENCES locations (id),
    on_hand_delta   integer NOT NULL,
    reserved_delta  integer NOT NULL,
    -- The level at location_id after this change.
    level_on_hand   integer NOT NULL,
    level_reserved  integer NOT NULL,
    level_safety    integer NOT NULL,
    level_version   integer NOT NULL,
    -- SKU-wide figures after this change.
    sku_on_hand     bigint NOT NULL,
    sku_reserved    bigint NOT NULL,
    available       integer NOT NULL CHECK (available >= 0),
    status          text NOT NULL CHECK (status IN ('IN_STOCK', 'LOW_STOCK', 'OUT_OF_STOCK')),
    reason          text CHECK (reason IN ('RESTOCK', 'SALE', 'RETURN', 'DAMAGE', 'CORRECTION', 'TRANSFER')),
    reservation_id  uuid REFERENCES reservations (id),
    reference       text,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku_id, sequence)
);

-- The ledger is append-only.
CREATE FUNCTION stock_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_events is append-only' USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER stock_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON stock_events
    FOR EACH ROW EXECUTE FUNCTION stock_events_append_only();

CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
