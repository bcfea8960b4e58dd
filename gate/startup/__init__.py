"""Executing the binary: timed starts, readiness, cache eviction, statistics."""
