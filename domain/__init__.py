"""Pure inventory rules: quantities, statuses and the failures they produce.

Standard library only: this package must not import asyncpg, strawberry, redis or starlette.
"""
