"""On-demand benchmarks (`make bench`); never part of the test suite's pass/fail."""
