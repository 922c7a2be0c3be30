"""Benchmarks: figures reported as ratios against a baseline run in the same script."""
