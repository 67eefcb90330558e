"""The statistics behind the report, checked against values known by hand, by definition, and by theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.errors import BenchError
from bench.report.statistics import cluster_bootstrap_auc_ci, holm, mean_auc_interval, paired_difference, uauc


def delong_variance(labels, scores) -> float:
    """DeLong et al. (1988) by definition, over all pairs: the normal-theory variance of an AUC when
    samples are independent (the test's oracle for the plain bootstrap)."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


def independent(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, labels * 0.5 + rng.random(n)


def clustered(n_users: int, per_user: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users whose samples share a user effect in both label and score: clustered data, like the movie
    test set's 16 users with dozens of overlapping samples each."""
    rng = np.random.default_rng(seed)
    users = np.repeat([f"u{i}" for i in range(n_users)], per_user)
    effect = np.repeat(rng.normal(0, 1.5, n_users), per_user)
    labels = (effect + rng.normal(0, 1, len(users)) > 0).astype(int)
    scores = 0.8 * effect + 0.3 * labels + rng.normal(0, 1, len(users))
    return labels, scores, users


def test_on_independent_data_the_cluster_bootstrap_is_the_plain_one_and_matches_delong():
    labels, scores = independent(2000, 5)
    one_per_user = [f"user{i}" for i in range(2000)]
    plain = cluster_bootstrap_auc_ci(labels, scores)  # users=None: each sample its own user
    by_user = cluster_bootstrap_auc_ci(labels, scores, one_per_user)
    auc = roc_auc_score(labels, scores)
    assert plain[0] < auc < plain[1]
    assert by_user == pytest.approx(plain, abs=0.004)  # other draws of the same distribution
    se = math.sqrt(delong_variance(labels, scores))
    assert plain[0] == pytest.approx(auc - 1.96 * se, abs=0.005)
    assert plain[1] == pytest.approx(auc + 1.96 * se, abs=0.005)
    assert cluster_bootstrap_auc_ci(labels, scores) == plain  # seeded: reproducible


def test_clustering_widens_the_interval_when_samples_of_a_user_move_together():
    labels, scores, users = clustered(16, 60, 3)
    naive = cluster_bootstrap_auc_ci(labels, scores)
    by_user = cluster_bootstrap_auc_ci(labels, scores, users)
    assert by_user[0] < roc_auc_score(labels, scores) < by_user[1]
    assert by_user[1] - by_user[0] > 2 * (naive[1] - naive[0])


def test_the_interval_narrows_with_more_samples():
    labels, scores = independent(4000, 2)
    small = cluster_bootstrap_auc_ci(labels[:200], scores[:200])
    large = cluster_bootstrap_auc_ci(labels, scores)
    assert large[1] - large[0] < (small[1] - small[0]) / 2


def test_a_mean_over_seeds_carries_the_seed_spread():
    labels, scores = independent(1000, 8)
    rng = np.random.default_rng(1)
    alike = [scores + rng.normal(0, 1e-3, 1000) for _ in range(3)]
    apart = [scores, rng.random(1000), scores + rng.normal(0, 2, 1000)]  # seeds that land far apart
    narrow = mean_auc_interval(labels, alike)
    wide = mean_auc_interval(labels, apart)
    mean_apart = np.mean([roc_auc_score(labels, s) for s in apart])
    assert wide[0] < mean_apart < wide[1]
    assert wide[1] - wide[0] > 3 * (narrow[1] - narrow[0])
    # One run is the one-level interval: scipy's percentile bootstrap on the same user draws.
    assert mean_auc_interval(labels, [scores]) == pytest.approx(cluster_bootstrap_auc_ci(labels, scores), abs=1e-12)


def test_paired_difference_sees_a_clear_gap_and_not_a_null_one():
    labels, strong = independent(1000, 11)
    rng = np.random.default_rng(4)
    noise, noise_2 = rng.random(1000), rng.random(1000)
    clear = paired_difference(labels, [strong], [noise])
    assert clear.difference == pytest.approx(roc_auc_score(labels, strong) - roc_auc_score(labels, noise))
    assert clear.low > 0 and clear.p_value < 0.01
    null = paired_difference(labels, [noise], [noise_2])
    assert null.low < 0 < null.high and null.p_value > 0.05
    same = paired_difference(labels, [noise], [noise])
    assert (same.difference, same.p_value) == (0.0, 1.0)


def test_pairing_on_users_keeps_a_gap_that_clustering_makes_uncertain():
    """The same 0.05-ish gap is 'significant' when 960 samples count as independent and is not once
    the 16 users are resampled: the movie test set's situation."""
    labels, scores, users = clustered(16, 60, 9)
    rng = np.random.default_rng(0)
    other = scores + rng.normal(0, 0.7, len(scores))
    naive = paired_difference(labels, [scores], [other])
    by_user = paired_difference(labels, [scores], [other], users)
    assert by_user.n_users == 16 and naive.n_users == len(scores)
    assert by_user.high - by_user.low > naive.high - naive.low


def test_uauc_averages_per_user_aucs_over_users_with_both_labels():
    labels = [1, 0, 1, 0, 1, 1, 0]
    scores = [0.9, 0.1, 0.2, 0.8, 0.5, 0.6, 0.7]
    users = ["a", "a", "b", "b", "c", "c", "d"]  # a: AUC 1, b: AUC 0, c: one label only, d: one sample
    assert uauc(labels, scores, users) == (0.5, 2)
    assert math.isnan(uauc([1, 0], [0.2, 0.1], ["x", "y"])[0])


def test_holm_adjusts_step_down():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_bad_input_is_a_clear_error():
    with pytest.raises(BenchError, match="both liked and not-liked"):
        cluster_bootstrap_auc_ci([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(BenchError, match="same test samples"):
        paired_difference([1, 0], [[0.1, 0.2]], [[0.3, 0.4, 0.5]])


@pytest.mark.parametrize("table_max", [512, 0], ids=["users-table", "per-sample"])
def test_the_resampled_auc_kernel_is_a_weighted_auc(monkeypatch, table_max):
    """Both ways of computing a resample's AUC equal scikit-learn's AUC with each sample weighted by
    how often its user was drawn (ties in the scores on purpose)."""
    import bench.report.statistics as statistics

    monkeypatch.setattr(statistics, "USER_TABLE_MAX", table_max)
    rng = np.random.default_rng(0)
    labels, scores, groups = rng.integers(0, 2, 300), np.round(rng.random(300), 1), rng.integers(0, 20, 300)
    counts = rng.integers(0, 3, (6, 20))
    got = statistics._ResampledAuc(labels, scores, groups)(counts)
    expected = [roc_auc_score(labels, scores, sample_weight=c[groups]) for c in counts]
    assert got == pytest.approx(expected, abs=1e-12)


def test_the_per_sample_kernel_holds_the_largest_sums():
    """A resample that draws mostly the user with the most negatives makes the largest sums the
    per-sample kernel adds; it still equals scikit-learn's weighted AUC."""
    import bench.report.statistics as statistics

    rng = np.random.default_rng(1)
    n_users = 1000
    groups = np.r_[np.zeros(2000, dtype=int), np.arange(1, n_users)]
    labels, scores = rng.integers(0, 2, len(groups)), np.round(rng.random(len(groups)), 2)
    kernel = statistics._ResampledAuc(labels, scores, groups)
    assert kernel.table is None
    counts = np.r_[rng.integers(0, 3, (3, n_users)), np.eye(1, n_users, 0, dtype=int) * n_users + 1]
    expected = [roc_auc_score(labels, scores, sample_weight=c[groups]) for c in counts]
    assert kernel(counts) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_the_seed_draw_spreads_a_mean_by_its_usual_standard_error(n):
    """A plain bootstrap over n seeds gives sqrt((n-1)/n) of the standard error s/sqrt(n) (0.71 at
    two seeds): intervals over two or three seeds would be too narrow. Runs here have fixed AUCs, so
    all the spread is the seeds'."""
    from bench.report.statistics import _resampled_means

    aucs = np.linspace(0.6, 0.8, n)
    kernels = [lambda counts, a=a: np.full(counts.shape[0], a) for a in aucs]
    means = _resampled_means(kernels, np.ones((40_000, 1)), np.random.default_rng(0))
    assert np.mean(means) == pytest.approx(np.mean(aucs), abs=2e-3)
    assert np.std(means) == pytest.approx(np.std(aucs, ddof=1) / np.sqrt(n), rel=0.03)


@pytest.mark.parametrize("table_max", [512, 0], ids=["users-table", "per-sample"])
def test_a_cells_resampled_means_do_not_depend_on_what_else_the_report_holds(monkeypatch, table_max):
    """The bar's draws are its own: adding cells, or comparing it with others first, changes none of its
    resampled means, and a comparison reads the same user draws for both sides (both kernels: the
    per-sample one reads a test set's counts transposed once for all its cells, extended on demand)."""
    import bench.report.statistics as statistics
    from bench.report.statistics import ResampleBank

    monkeypatch.setattr(statistics, "USER_TABLE_MAX", table_max)

    labels, strong = independent(300, 5)
    rng = np.random.default_rng(9)
    bar = [strong + rng.normal(0, 0.5, 300) for _ in range(3)]
    other = [rng.random(300) for _ in range(2)]
    alone, crowded = ResampleBank(), ResampleBank()
    alone.add("bar", "t", labels, bar)
    crowded.add("other", "t", labels, other)
    crowded.add("bar", "t", labels, bar)
    crowded.paired("other", "bar", n_resamples=700)  # draws more than the interval below needs
    assert np.array_equal(alone.resampled_means("bar", 500), crowded.resampled_means("bar", 500))
    assert np.array_equal(crowded.resampled_means("bar", 700)[:500], crowded.resampled_means("bar", 500))
    alone.add("other", "t", labels, other)
    assert alone.paired("other", "bar", n_resamples=700) == crowded.paired("other", "bar", n_resamples=700)
    draws = alone._cells["bar"].users.first(700)  # each run's AUCs are its kernel's on the shared draws
    direct = [statistics._ResampledAuc(np.asarray(labels), run, np.arange(300))(draws) for run in bar]
    assert np.allclose(alone._cells["bar"].aucs[:, :700], direct, atol=1e-12)
    with pytest.raises(BenchError, match="different test samples"):
        alone.add("elsewhere", "u", labels, other)
        alone.paired("elsewhere", "bar")


def test_a_true_difference_equal_to_the_stated_resolution_is_detected_in_about_80_percent():
    """The resolution rule (statistics.detectable_difference) against the paired bootstrap test it
    describes. Binormal scores: each method's score is d x label + unit noise (AUC = Phi(d / sqrt 2)), the
    two methods' noise correlated as two methods on one test set are. The resolution is read from pilot
    test sets as the report reads it (2.80 x the bootstrap SE of the paired difference at level 0.05); then
    A's signal is set so that the true AUC gap equals it, and 300 fresh test sets are tested at 0.05.
    Tolerance: +-0.08 around 0.80, about 3.5 standard errors of a rate over 300 draws (0.023), leaving room
    for the normal approximation the rule rests on."""
    from scipy.stats import norm

    from bench.report.statistics import ResampleBank, detectable_difference

    n, d_b = 300, 1.0
    rng = np.random.default_rng(2026)

    def test_set(d_a: float):
        y = (rng.random(n) < 0.5).astype(int)
        shared = rng.normal(size=n)
        a = d_a * y + 0.6 * shared + 0.8 * rng.normal(size=n)
        b = d_b * y + 0.6 * shared + 0.8 * rng.normal(size=n)
        bank = ResampleBank(seed=int(rng.integers(1 << 30)))
        bank.add("a", "t", y, [a])
        bank.add("b", "t", y, [b])
        return bank.paired("a", "b", n_resamples=400)

    auc_b = norm.cdf(d_b / np.sqrt(2))
    d_a = d_b + 0.2
    for _ in range(2):  # the SE depends a little on A's signal: settle it
        resolution = detectable_difference(np.mean([test_set(d_a).standard_error for _ in range(20)]))
        d_a = np.sqrt(2) * norm.ppf(auc_b + resolution)
    detected = np.mean([test_set(d_a).p_value < 0.05 for _ in range(300)])
    print(f"resolution {100 * resolution:.2f} points, detected in {100 * detected:.1f}% of 300 test sets")
    assert 0.72 <= detected <= 0.88
