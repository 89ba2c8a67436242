"""Benchmarks of the inventory server: `python -m bench` (see BENCHMARKS.md)."""
