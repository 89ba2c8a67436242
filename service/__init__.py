"""Use cases: one transaction per mutation, idempotency, and publishing after commit (called by
resolvers/, cli.py, server.py and tests)."""
