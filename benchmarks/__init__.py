"""Benchmarks behind `nox -s bench`: overhead, throughput and memory of the SDK beside its peers."""
