-- Figures that cannot overflow: every SKU-wide total the ledger records fits GraphQL's Int
-- (32 bits), as `available` already does by its type. store/ledger.py refuses such a change
-- before it reaches these (INVALID_QUANTITY); the constraints are the backstop. NOT VALID:
-- the ledger is append-only, so only new entries are checked and no old one is rewritten.
ALTER TABLE stock_events
    ADD CONSTRAINT sku_on_hand_fits_int CHECK (sku_on_hand <= 2147483647) NOT VALID,
    ADD CONSTRAINT sku_reserved_fits_int CHECK (sku_reserved <= 2147483647) NOT VALID;
