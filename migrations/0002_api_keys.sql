-- API keys: stored as a SHA-256 of a 256-bit random secret (a slow hash adds nothing for
-- secrets of that entropy), found by their public prefix.
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix      text NOT NULL UNIQUE,
    secret_hash text NOT NULL,
    scopes      text[] NOT NULL CHECK (
        cardinality(scopes) > 0
        AND scopes <@ ARRAY['inventory:read', 'inventory:reserve', 'inventory:write', 'admin']),
    -- NULL: every location; else the location codes this key may change stock at.
    locations   text[],
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
