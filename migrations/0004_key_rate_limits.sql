-- A key's own requests per second: NULL takes RATE_LIMIT_PER_KEY, 0 means unlimited (trusted
-- back ends such as a checkout service).
ALTER TABLE api_keys ADD COLUMN rate_limit integer CHECK (rate_limit >= 0);
