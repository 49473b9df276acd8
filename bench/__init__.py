"""Benchmarks: each prints its figure beside the raw limit measured in the same run."""
