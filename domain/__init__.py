"""Pure inventory rules: quantities, statuses and the failures they produce; imported by every
layer above.

Standard library only: this package must not import asyncpg, strawberry, redis or starlette.
"""
