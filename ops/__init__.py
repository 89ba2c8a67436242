"""Operating the server: metrics, structured logs, tracing, health, gc pacing (importable from
every layer above domain/)."""
