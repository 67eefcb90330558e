"""The statistics behind the report, checked against values computed by hand and by definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from bench.errors import BenchError
from bench.statistics import bootstrap_auc_ci, delong_covariance, delong_test, structural_components


def brute_force_components(labels, scores):
    """DeLong et al. (1988) by definition: psi(x, y) = 1 if x > y, 1/2 if equal, else 0, over all pairs."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)


def test_hand_computed_single_method():
    # positives 0.9, 0.6; negatives 0.7, 0.1: pairs won 1, 1, 0, 1 -> AUC 3/4.
    # V10 = [1, 1/2], V01 = [1/2, 1]; var = S10/m + S01/n = (1/8)/2 + (1/8)/2 = 1/8.
    aucs, cov = delong_covariance([1, 1, 0, 0], [[0.9, 0.6, 0.7, 0.1]])
    assert aucs[0] == pytest.approx(0.75)
    assert cov[0, 0] == pytest.approx(0.125)


def test_hand_computed_paired_test():
    # a as above (AUC 3/4); b = [0.2, 0.8 | 0.3, 0.9]: V10_b = [0, 1/2], V01_b = [1/2, 0], AUC 1/4.
    # cov(V10_a, V10_b) = cov(V01_a, V01_b) = -1/8, so var(a - b) = 1/8 + 1/8 + 2 * 1/8 = 1/2,
    # z = (3/4 - 1/4) / sqrt(1/2) = 0.7071, p = 2 * (1 - Phi(0.7071)) = 0.4795.
    result = delong_test([1, 1, 0, 0], [0.9, 0.6, 0.7, 0.1], [0.2, 0.8, 0.3, 0.9])
    assert result.auc_a == pytest.approx(0.75)
    assert result.auc_b == pytest.approx(0.25)
    assert result.std_error == pytest.approx(math.sqrt(0.5))
    assert result.z == pytest.approx(1 / math.sqrt(2))
    assert result.p_value == pytest.approx(0.4795, abs=1e-4)


def test_auc_equals_mann_whitney_u_over_pairs():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    scores = np.round(labels * 0.4 + rng.random(300), 1)  # rounded: many ties
    aucs, _, _ = structural_components(labels, [scores])
    u = stats.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    n1, n0 = (labels == 1).sum(), (labels == 0).sum()
    assert aucs[0] == pytest.approx(u / (n1 * n0))
    assert aucs[0] == pytest.approx(roc_auc_score(labels, scores))


def test_fast_components_and_variance_match_brute_force():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 200)
    a = np.round(labels * 0.3 + rng.random(200), 2)
    b = np.round(0.5 * a + rng.random(200) * 0.5, 2)  # correlated with a, with ties
    aucs, v10, v01 = structural_components(labels, [a, b])
    auc_a, v10_a, v01_a = brute_force_components(labels, a)
    auc_b, v10_b, v01_b = brute_force_components(labels, b)
    np.testing.assert_allclose(aucs, [auc_a, auc_b])
    np.testing.assert_allclose(v10, [v10_a, v10_b])
    np.testing.assert_allclose(v01, [v01_a, v01_b])
    m, n = len(v10_a), len(v01_a)
    expected = np.cov([v10_a, v10_b]) / m + np.cov([v01_a, v01_b]) / n
    _, cov = delong_covariance(labels, [a, b])
    np.testing.assert_allclose(cov, expected)
    result = delong_test(labels, a, b)
    var_diff = expected[0, 0] + expected[1, 1] - 2 * expected[0, 1]
    assert result.z == pytest.approx((auc_a - auc_b) / math.sqrt(var_diff))


def test_identical_scores_are_not_different():
    labels = [1, 0, 1, 0, 1]
    scores = [0.3, 0.2, 0.9, 0.4, 0.5]
    result = delong_test(labels, scores, scores)
    assert (result.difference, result.p_value) == (0.0, 1.0)


def test_a_clear_difference_is_significant_and_a_null_one_usually_not():
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 2, 1000)
    strong = labels + rng.normal(0, 1, 1000)
    noise = rng.random(1000)
    assert delong_test(labels, strong, noise).p_value < 1e-10
    noise_2 = rng.random(1000)
    assert delong_test(labels, noise, noise_2).p_value > 0.01


def test_bootstrap_interval_contains_the_auc_and_agrees_with_delong():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 2000)
    scores = labels * 0.5 + rng.random(2000)
    low, high = bootstrap_auc_ci(labels, scores)
    auc = roc_auc_score(labels, scores)
    assert low < auc < high
    _, cov = delong_covariance(labels, [scores])
    se = math.sqrt(cov[0, 0])
    # Normal-theory 95% interval from DeLong's variance: the two should agree closely at n = 2000.
    assert low == pytest.approx(auc - 1.96 * se, abs=0.005)
    assert high == pytest.approx(auc + 1.96 * se, abs=0.005)
    assert bootstrap_auc_ci(labels, scores) == (low, high)  # seeded: reproducible


def test_bootstrap_interval_narrows_with_more_samples():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 4000)
    scores = labels * 0.5 + rng.random(4000)
    small = bootstrap_auc_ci(labels[:200], scores[:200])
    large = bootstrap_auc_ci(labels, scores)
    assert large[1] - large[0] < (small[1] - small[0]) / 2


def test_single_class_is_a_clear_error():
    with pytest.raises(BenchError):
        delong_test([1, 1], [0.1, 0.2], [0.3, 0.4])
    with pytest.raises(BenchError):
        bootstrap_auc_ci([0, 0, 0], [0.1, 0.2, 0.3])
