"""Repository tooling (benchmarks, mutation run, screenshots): run by nox, not installed."""
