"""Thin resolvers: check the arguments, call one use case of service/, return domain values or an
Outcome (bound to fields by schema/)."""
