-- A bundle has no ledger: partners get its `inventory.availability.changed` when a component's
-- entry moves its figures (feed/bundle_feed.py). Each sink keeps here, per bundle, the figures
-- as of the last component entry it handed on; the next one is compared with them. The tail's
-- round locks the row (in bundle order) until it commits, which also orders one bundle's
-- events across the cursors of its components and across instances.
--
-- No foreign key to skus, as for sink_cursors: inserting a row would take a KEY SHARE lock on
-- the bundle's row for the whole round, and upsertBundle (or a bundle hold) locking that row
-- would wait for a partner (SKUs are never deleted).
CREATE TABLE sink_bundle_figures (
    sink      text NOT NULL REFERENCES sink_starts (sink),
    bundle_id bigint NOT NULL,
    -- all NULL: the sink has handed on no entry of the bundle's components yet
    on_hand   bigint CHECK (on_hand >= 0),
    reserved  bigint CHECK (reserved >= 0),
    available bigint CHECK (available >= 0),
    status    text CHECK (status IN ('IN_STOCK', 'LOW_STOCK', 'OUT_OF_STOCK')),
    PRIMARY KEY (sink, bundle_id),
    CONSTRAINT sink_bundle_figures_all_or_none CHECK (
        (on_hand IS NULL) = (reserved IS NULL) AND (on_hand IS NULL) = (available IS NULL)
        AND (on_hand IS NULL) = (status IS NULL))
);
