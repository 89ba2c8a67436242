"""Thin resolvers: check arguments, call the service and the store, build payloads."""
