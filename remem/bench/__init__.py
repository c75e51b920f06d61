"""Benchmarks. They use only remem's public API, fixed inputs and write JSON results."""
