"""The GraphQL schema: Strawberry types built from domain values (built by schema.root's
build_schema for server.py and cli.py)."""
