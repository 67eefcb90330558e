"""Uncertainty for AUCs over one test set: bootstrap confidence intervals and DeLong's paired test.

Both work on the per-sample scores a record stores, so a report needs nothing but the store.
DeLong's test compares two methods scored on the *same* test samples (paired): it uses the
covariance of their AUC estimates, which is far tighter than comparing two independent intervals.
The variance is computed with the fast algorithm of Sun & Xu (2014, IEEE Signal Processing Letters
21(11), "Fast implementation of DeLong's algorithm for comparing the areas under correlated
receiver operating characteristic curves"): midranks instead of the O(m*n) pairwise kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bench.errors import BenchError


@dataclass(frozen=True)
class DelongResult:
    """A paired comparison of AUC_a against AUC_b (two-sided)."""

    auc_a: float
    auc_b: float
    difference: float  # auc_a - auc_b
    std_error: float  # of the difference
    z: float
    p_value: float


def _split(labels: Sequence[int], scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores (k methods x samples) -> positives (k x m), negatives (k x n)."""
    y = np.asarray(labels)
    if set(np.unique(y)) - {0, 1}:
        raise BenchError("labels must be 0 or 1")
    positives, negatives = scores[:, y == 1], scores[:, y == 0]
    if positives.shape[1] == 0 or negatives.shape[1] == 0:
        raise BenchError("DeLong's test needs both liked and not-liked samples in the test set")
    return positives, negatives


def structural_components(labels: Sequence[int], scores: Sequence[Sequence[float]]
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs (k,), V10 (k x m, one per positive) and V01 (k x n, one per negative), by midranks.

    V10[i] is the share of negatives that positive i outranks (ties count 1/2), V01[j] the share
    of positives that outrank negative j: DeLong's structural components, computed in
    O((m+n) log(m+n)) as in Sun & Xu (2014).
    """
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    positives, negatives = _split(labels, s)
    m, n = positives.shape[1], negatives.shape[1]
    rank_pos = stats.rankdata(positives, axis=1)  # midranks within the positives
    rank_neg = stats.rankdata(negatives, axis=1)
    rank_all = stats.rankdata(np.concatenate([positives, negatives], axis=1), axis=1)
    v10 = (rank_all[:, :m] - rank_pos) / n
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    return aucs, v10, v01


def delong_covariance(labels: Sequence[int], scores: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and their DeLong covariance matrix (k x k): S10/m + S01/n."""
    aucs, v10, v01 = structural_components(labels, scores)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(aucs), len(aucs)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(aucs), len(aucs)))
    return aucs, s10 / m + s01 / n


def delong_test(labels: Sequence[int], scores_a: Sequence[float], scores_b: Sequence[float]) -> DelongResult:
    """DeLong's two-sided test of AUC_a == AUC_b for two score vectors on the same samples."""
    if len(scores_a) != len(scores_b) or len(scores_a) != len(labels):
        raise BenchError("a paired test needs both methods' scores on the same test samples")
    aucs, cov = delong_covariance(labels, [scores_a, scores_b])
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0.0:  # identical rankings (or degenerate data): no evidence of a difference
        z, p = 0.0, 1.0
    else:
        z = diff / se
        p = float(2 * stats.norm.sf(abs(z)))
    return DelongResult(float(aucs[0]), float(aucs[1]), diff, se, float(z), p)


class _ResampledAuc:
    """AUC of bootstrap resamples given as index arrays, in O(n) per resample instead of a sort.

    A resample is a multiset of test samples; AUC = sum over (positive, negative) pairs of the
    pair's multiplicities times [pos > neg] (+1/2 for ties), divided by (#pos * #neg). With the
    samples sorted once by score and grouped by equal score, that is a cumulative sum per resample.
    """

    def __init__(self, labels: np.ndarray, scores: np.ndarray) -> None:
        order = np.argsort(scores, kind="stable")
        self.n = len(scores)
        self.order = order
        self.positive = labels[order] == 1
        sorted_scores = scores[order]
        self.group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])

    def __call__(self, indices: np.ndarray, axis: int = -1) -> np.ndarray:
        idx = np.moveaxis(np.asarray(indices, dtype=np.int64), axis, -1).reshape(-1, self.n)
        rows = idx.shape[0]
        counts = np.bincount((idx + self.n * np.arange(rows)[:, None]).ravel(),
                             minlength=rows * self.n).reshape(rows, self.n)[:, self.order]
        pos = np.add.reduceat(counts * self.positive, self.group_starts, axis=1)
        neg = np.add.reduceat(counts * ~self.positive, self.group_starts, axis=1)
        neg_below = np.cumsum(neg, axis=1) - neg
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
        return auc.reshape(np.moveaxis(np.asarray(indices), axis, -1).shape[:-1])


def bootstrap_auc_ci(labels: Sequence[int], scores: Sequence[float], *, confidence: float = 0.95,
                     n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the AUC, resampling test samples (label and
    score together, as sample indices) with scipy.stats.bootstrap. Seeded, so a report is
    reproducible."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    if len(np.unique(y)) < 2:
        raise BenchError("a bootstrap interval of the AUC needs both liked and not-liked samples")
    result = stats.bootstrap((np.arange(len(y)),), _ResampledAuc(y, s), vectorized=True,
                             n_resamples=n_resamples, confidence_level=confidence, method="percentile",
                             batch=500, random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
