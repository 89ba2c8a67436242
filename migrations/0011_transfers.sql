-- Stock transfers between two locations. shipTransfer takes each line off on hand at the
-- `from` location (SHIPPED) and makes it incoming at `to` (an incoming row, source TRANSFER);
-- receiveTransfer moves what arrived to on hand at `to` (RECEIVED) and closes the rest of the
-- incoming (an INCOMING event), the shortfall kept on the line as the loss in transit;
-- cancelTransfer returns the stock to `from` (ADJUSTED, reason TRANSFER) and clears the
-- incoming at `to`. Every figure is in the ledger, so levels still replay from it.

CREATE TABLE transfers (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    from_location_id bigint NOT NULL REFERENCES locations (id),
    to_location_id   bigint NOT NULL REFERENCES locations (id),
    status           text NOT NULL DEFAULT 'IN_TRANSIT'
                     CHECK (status IN ('IN_TRANSIT', 'RECEIVED', 'CANCELLED')),
    expected_at      timestamptz,
    reference        text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transfer_between_two_locations CHECK (from_location_id <> to_location_id)
);

CREATE INDEX transfers_created ON transfers (created_at DESC, id DESC);
CREATE INDEX transfers_from ON transfers (from_location_id, created_at DESC);
CREATE INDEX transfers_to ON transfers (to_location_id, created_at DESC);

-- One line per SKU (the lines of one SKU are summed when shipped), `position` the order of the
-- input's first line of that SKU; `received` stays 0 until the transfer is received.
CREATE TABLE transfer_lines (
    transfer_id uuid NOT NULL REFERENCES transfers (id),
    sku_id      bigint NOT NULL REFERENCES skus (id),
    position    integer NOT NULL CHECK (position >= 0),
    quantity    integer NOT NULL CHECK (quantity > 0),
    received    integer NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= quantity),
    PRIMARY KEY (transfer_id, sku_id),
    CONSTRAINT transfer_lines_position UNIQUE (transfer_id, position)
);

-- A transfer's incoming is one of its lines, once; it closes RECEIVED with what arrived (the
-- rest was lost in transit) and is never received in part while EXPECTED.
ALTER TABLE incoming
    DROP CONSTRAINT received_in_full,
    ADD CONSTRAINT received_in_full
        CHECK (status <> 'RECEIVED' OR received = quantity OR source = 'TRANSFER'),
    ADD CONSTRAINT transfer_incoming_received_on_receipt
        CHECK (source <> 'TRANSFER' OR status = 'RECEIVED' OR received = 0),
    ADD CONSTRAINT incoming_transfer_line
        FOREIGN KEY (transfer_id, sku_id) REFERENCES transfer_lines (transfer_id, sku_id);

CREATE UNIQUE INDEX incoming_one_per_transfer_line ON incoming (transfer_id, sku_id)
    WHERE transfer_id IS NOT NULL;

ALTER TABLE stock_events
    ADD CONSTRAINT stock_events_transfer FOREIGN KEY (transfer_id) REFERENCES transfers (id);

CREATE INDEX stock_events_transfer_id ON stock_events (transfer_id) WHERE transfer_id IS NOT NULL;
