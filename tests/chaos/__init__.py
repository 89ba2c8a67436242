"""The chaos test: instances, Redis and PostgreSQL connections killed while clients work."""
