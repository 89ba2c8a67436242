-- Sales a store recorded while offline (recordSales): a hold whose stock such a sale took and
-- no other location could cover becomes SHORTED; a ledger entry may say when its change
-- happened in the world (the sale's time at the till) beside when it was recorded. MOVED and
-- SHORTED entries are allowed by the kind check since 0009.

ALTER TABLE reservations
    DROP CONSTRAINT reservations_status_check,
    ADD CONSTRAINT reservations_status_check
        CHECK (status IN ('ACTIVE', 'COMMITTED', 'RELEASED', 'EXPIRED', 'SHORTED'));

ALTER TABLE stock_events ADD COLUMN happened_at timestamptz;

-- A level's latest stock count (its latest SET entry): a sale that happened before it is
-- already counted. One index lookup per recorded sale.
CREATE INDEX stock_events_level_counts ON stock_events (sku_id, location_id, occurred_at DESC)
    WHERE kind = 'SET';
