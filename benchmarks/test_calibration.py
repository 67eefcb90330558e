"""A fixed CPU workload timed in every benchmark run, so other timings can be compared as ratios to it.

These machines are shared and noisy: an absolute time says little, a time relative to this
calibration measured in the same run says more (benchmarks/compare.py divides by it).
"""

from __future__ import annotations

import numpy as np


def _workload() -> float:
    values = np.random.default_rng(0).random(200_000)
    total = float(np.sort(values)[::1000].sum())  # numpy: a sort
    for i in range(50_000):  # the interpreter: a plain loop
        total += i % 7
    return total


def test_calibration_workload(benchmark):
    assert benchmark(_workload) > 0
