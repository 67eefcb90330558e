"""The headline metric: ROC AUC over a test set."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.errors import BenchError


def auc(labels: Sequence[int], scores: Sequence[float], *, where: str = "the test set",
        fix: str = "use a larger --test-size") -> float:
    """ROC AUC (ties count half), from scikit-learn; imported here because it is slow to import.
    `where` and `fix` name the samples and the remedy in the error when they hold one class only."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        raise BenchError(f"AUC needs both liked and not-liked samples in {where}; {fix}")
    return float(roc_auc_score(labels, scores))


def auc_reach(labels: Sequence[int], scores: Sequence[float], tolerance: float) -> tuple[float, float]:
    """The lowest and highest AUC that `scores` can give when each one moves by at most `tolerance`.

    Float sums differ in their last bits between CPUs (AVX2 and AVX-512 kernels add in other
    orders), so two near-tied scores can swap and move the AUC by half a pair or more while every
    score stays within its tolerance. A (positive, negative) pair whose gap is within 2 x tolerance
    can go either way, which is what shifting every positive down (or up) by 2 x tolerance
    computes: the AUC a regression check may accept is this interval, not one number.
    """
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    shift = 2.0 * float(tolerance) * y
    return auc(y, s - shift), auc(y, s + shift)
