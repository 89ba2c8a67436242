"""Use cases: one transaction per mutation, idempotency, and publishing after commit."""
