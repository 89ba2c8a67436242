"""Persistence: every SQL statement of the service lives in this package (called by service/,
feed/ for ledger reads, server.py and cli.py)."""
