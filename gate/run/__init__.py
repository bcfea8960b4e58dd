"""Executing the binary: timed starts, readiness, the envelope's cgroups, cache eviction,
cleaning up. The numbers it returns are summarized by gate.values.stats."""
