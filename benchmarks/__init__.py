"""Benchmarks: `python -m benchmarks` (or `make bench`). Each prints ratios against a baseline
measured in the same run; quote medians, the machine is noisy."""
