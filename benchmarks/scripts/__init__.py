"""Child-process programs the benchmarks time; each prints one JSON line."""
