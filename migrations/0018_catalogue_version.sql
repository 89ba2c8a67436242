-- One counter that every catalogue upsert (upsertSku, upsertBundle, upsertLocation,
-- upsertChannel) moves in its own transaction. With the SKUs' ledger sequences (every change
-- of a level appends a ledger entry) it tells web/revalidation.py that nothing a SKU read
-- shows has changed, so a revalidated GET can answer 304 without running the query.

CREATE TABLE catalogue_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version bigint NOT NULL DEFAULT 0 CHECK (version >= 0)
);

INSERT INTO catalogue_version DEFAULT VALUES;
