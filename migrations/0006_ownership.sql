-- Ownership of holds: the API key that made a reservation (NULL: anonymous or ADMIN_API_KEY,
-- open to anyone who may reserve), and on each ledger entry the key its reservation id and
-- reference are shown to (the hold's owner for a hold's entries).

ALTER TABLE reservations ADD COLUMN owner bigint REFERENCES api_keys (id);
ALTER TABLE stock_events ADD COLUMN actor bigint REFERENCES api_keys (id);
