"""Reproducible benchmarks for tracker; see bench/README.md."""
