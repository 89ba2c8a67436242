"""Operating the server: metrics, structured logs, health."""
