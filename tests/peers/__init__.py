"""Real network peers for tests and benchmarks, started on free loopback ports."""
