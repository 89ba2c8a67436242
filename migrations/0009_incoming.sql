-- Incoming stock: what a location expects (a purchase order, a transfer on its way), counted
-- in stock_levels.incoming and in available-to-promise, never in available. Every change of a
-- level's incoming is a ledger entry with incoming_delta (INCOMING, RECEIVED), so the ledger
-- replays to every level's incoming as it does to on_hand.

ALTER TABLE stock_levels
    ADD COLUMN incoming integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT incoming_not_negative CHECK (incoming >= 0);

CREATE TABLE incoming (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sku_id      bigint NOT NULL,
    location_id bigint NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    received    integer NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= quantity),
    expected_at timestamptz NOT NULL,
    status      text NOT NULL DEFAULT 'EXPECTED'
                CHECK (status IN ('EXPECTED', 'RECEIVED', 'CANCELLED')),
    source      text NOT NULL DEFAULT 'PURCHASE' CHECK (source IN ('PURCHASE', 'TRANSFER')),
    transfer_id uuid,
    reference   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (sku_id, location_id) REFERENCES stock_levels (sku_id, location_id),
    CONSTRAINT transfer_incoming_has_transfer CHECK ((source = 'TRANSFER') = (transfer_id IS NOT NULL)),
    CONSTRAINT received_in_full CHECK (status <> 'RECEIVED' OR received = quantity)
);

CREATE INDEX incoming_open ON incoming (sku_id, expected_at) WHERE status = 'EXPECTED';
CREATE INDEX incoming_created ON incoming (created_at DESC);

ALTER TABLE stock_events
    ADD COLUMN incoming_delta integer NOT NULL DEFAULT 0,
    ADD COLUMN incoming_id uuid REFERENCES incoming (id),
    ADD COLUMN transfer_id uuid,
    -- The level's incoming after this change, beside level_on_hand and the others.
    ADD COLUMN level_incoming integer NOT NULL DEFAULT 0,
    DROP CONSTRAINT stock_events_kind_check,
    ADD CONSTRAINT stock_events_kind_check CHECK (kind IN (
        'RESERVED', 'RELEASED', 'EXPIRED', 'COMMITTED', 'ADJUSTED', 'SET',
        'INCOMING', 'RECEIVED', 'SHIPPED', 'MOVED', 'SHORTED'));

-- Every writer of the ledger (one entry or a group commit's batch) records the level's
-- incoming after the change without naming it: the level row was written earlier in the same
-- transaction, under its row lock, so this reads exactly the figure the entry follows.
CREATE FUNCTION stock_events_level_incoming() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.level_incoming := coalesce((SELECT incoming FROM stock_levels
                                    WHERE sku_id = NEW.sku_id AND location_id = NEW.location_id), 0);
    RETURN NEW;
END
$$;

CREATE TRIGGER stock_events_level_incoming
    BEFORE INSERT ON stock_events
    FOR EACH ROW EXECUTE FUNCTION stock_events_level_incoming();
