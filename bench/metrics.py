"""The headline metric: ROC AUC over a test set."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.metrics import roc_auc_score

from bench.errors import BenchError


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    if len(set(labels)) < 2:
        raise BenchError("AUC needs both liked and not-liked samples in the test set; use a larger --test-size")
    return float(roc_auc_score(labels, scores))
