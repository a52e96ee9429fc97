"""Benchmarks of tap-insightly, target-webhook and the sandbox, each next to its floor.

Run ``python -m benchmarks.run [--tiny] [--out benchmarks/results/NAME.json]``.
"""
