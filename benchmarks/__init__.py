"""Benchmarks: run as ``python -m benchmarks.<name>``; they print ratios, never assert wall-clock times."""
