"""The GraphQL schema: Strawberry types built from domain values."""
