"""Benchmarks, run by ``make bench`` (``python -m tests.bench``), never collected by pytest."""
