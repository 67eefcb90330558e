"""The headline metric: ROC AUC over a test set."""

from __future__ import annotations

from collections.abc import Sequence

from bench.errors import BenchError


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """ROC AUC (ties count half), from scikit-learn; imported here because it is slow to import."""
    from sklearn.metrics import roc_auc_score

    if len(set(labels)) < 2:
        raise BenchError("AUC needs both liked and not-liked samples in the test set; use a larger --test-size")
    return float(roc_auc_score(labels, scores))
