-- Partner feeds read the ledger per SKU: each sink (webhooks' fan-out, the NATS and MQTT relay)
-- keeps, per SKU, the sequence it has handled up to; webhook endpoints and their deliveries.

-- A sink's first start: from then on it handles every SKU's events after the head it had then.
CREATE TABLE sink_starts (
    sink       text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now()
);

-- Handled up to `sequence` of the SKU (a missing row after the sink's start: 0). No foreign
-- key to skus: inserting a cursor would take a KEY SHARE lock on the SKU's row for the whole
-- round, and group commit's FOR UPDATE of that row would wait for a partner (SKUs are never
-- deleted).
CREATE TABLE sink_cursors (
    sink     text NOT NULL REFERENCES sink_starts (sink),
    sku_id   bigint NOT NULL,
    sequence bigint NOT NULL CHECK (sequence >= 0),
    PRIMARY KEY (sink, sku_id)
);

CREATE TABLE webhook_endpoints (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url                      text NOT NULL,
    -- empty = every type / every SKU
    event_types              text[] NOT NULL DEFAULT '{}',
    skus                     text[] NOT NULL DEFAULT '{}',
    enabled                  boolean NOT NULL DEFAULT true,
    disabled_reason          text,
    secret                   text NOT NULL,
    -- after a rotation, the previous secret signs beside the new one until previous_until
    previous_secret          text,
    previous_until           timestamptz,
    -- the first failure since the last success (NULL: the last attempt succeeded)
    failing_since            timestamptz,
    created_by               bigint REFERENCES api_keys (id) ON DELETE SET NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- the CloudEvents id, also the webhook-id header: the same on every attempt and replay
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    sku             text NOT NULL,
    sequence        bigint NOT NULL,
    -- the CloudEvent without its signature, as sent on every attempt
    body            bytea NOT NULL,
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'DELIVERED', 'DEAD')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- attempts since it last became PENDING (replay, retryDeadDeliveries): the schedule's index
    round_attempts  integer NOT NULL DEFAULT 0 CHECK (round_attempts >= 0),
    response_status integer,
    error           text,
    next_attempt_at timestamptz DEFAULT now(),
    -- an instance attempting it holds it until then (a crashed one's lease runs out)
    leased_until    timestamptz,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Per endpoint and SKU, the oldest PENDING delivery goes first (id order is sequence order).
CREATE INDEX webhook_deliveries_pending
    ON webhook_deliveries (endpoint_id, sku, id) WHERE status = 'PENDING';
-- The endpoint's log, newest first; retention.
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at)
    WHERE status <> 'PENDING';
-- A queue with an attempt in flight waits for it (its order): the claim asks for that row.
CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (endpoint_id, sku)
    WHERE status = 'PENDING' AND leased_until IS NOT NULL;
