"""Uncertainty for AUCs when test samples come in clusters: by user, and across few-shot seeds.

Several test samples of one user are not independent: the authors' movie test set is 1000 samples
from 16 users, with overlapping 10-item windows. Treating them as 1000 independent draws (a plain
bootstrap, DeLong's test) overstates certainty. So every interval and test here resamples *users*
(a cluster bootstrap): a resample draws users with replacement and keeps all of each drawn user's
samples. Where every user has one sample (the book test set) that is the plain bootstrap.

Few-shot seeds add a second source of spread. The interval of a mean over seeds is a two-level
bootstrap: each resample draws users (shared by every seed, since all seeds are scored on the same
users) and, independently, seeds with replacement, and averages the drawn seeds' AUCs on the drawn
users, the seed draw rescaled so that it spreads the mean by the usual s/sqrt(n) and not less (with
two or three seeds a plain bootstrap would give 0.71 or 0.82 of it). Paired comparisons resample the
same users for both methods and bootstrap the difference of their means; the p-value is the
two-sided bootstrap one, 2 x the smaller share of resampled differences on either side of 0. A
method whose seeds give identical scores is one run.

scipy.stats.bootstrap does the one-level cluster interval; what it lacks (two levels, pairing on
users across several runs, resampling clusters) is written here, on one resampled-AUC kernel.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from bench.errors import BenchError

N_RESAMPLES = 2000
CONFIDENCE = 0.95
POWER = 0.80


def detectable_difference(standard_error: float, level: float = 1 - CONFIDENCE, power: float = POWER) -> float:
    """The resolution rule: the smallest true difference that a two-sided test at `level` detects with
    probability `power`, for an estimate with this standard error under the normal approximation,
    (z_{1 - level/2} + z_{power}) x SE: 2.80 x SE at level 0.05 and 80% power. A column of m Holm-corrected
    tests passes its strictest step at level / m, so the report uses that level (a larger factor)."""
    return float((stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)) * standard_error)


def resamples_for(tests: int, alpha: float) -> int:
    """Resamples for each of `tests` Holm-corrected bootstrap tests: N_RESAMPLES, or more where the
    family is large. The smallest bootstrap p is 2 / (N + 1), and Holm multiplies it by the number of
    tests, so with 2000 resamples no column of 51 or more tests could show anything significant however
    large the effect; here tests x 2 / (N + 1) stays below alpha / 2."""
    return max(N_RESAMPLES, math.ceil(4 * tests / alpha))


def resamples_rule(alpha: float) -> str:
    """`resamples_for` in words, for the reports' captions."""
    return (f"{N_RESAMPLES} resamples or, for a column of more than {N_RESAMPLES * alpha / 4:.0f} tests, "
            f"{4 / alpha:.0f} per test (so that the smallest possible corrected p stays below {alpha / 2})")


#: Up to this many users, the AUC of a resample is computed from a users x users table of won pairs
#: (O(users^2) per resample, whatever the sample count); above it, from per-sample counts (O(samples)).
USER_TABLE_MAX = 512


class _ResampledAuc:
    """AUC of many user resamples at once, each given as a count per user.

    A resample is a multiset of users; AUC = sum over (positive, negative) pairs of the two samples'
    multiplicities times [pos > neg] (+1/2 for ties), over (#pos * #neg). With few users (the movie
    test set's 16) that is c' W c / ((c . P)(c . N)) for the users x users table W of won pairs and
    each user's positive and negative counts P, N. With many users (one sample each on book), the
    samples are sorted once by score and each resample is one cumulative sum over its negatives' counts.
    """

    def __init__(self, labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> None:
        n_users = int(groups.max()) + 1
        positive = labels == 1
        self.positives = np.bincount(groups, weights=positive, minlength=n_users)
        self.negatives = np.bincount(groups, weights=~positive, minlength=n_users)
        if n_users <= USER_TABLE_MAX:
            self.table = np.zeros((n_users, n_users))
            for v in range(n_users):
                negs = np.sort(scores[~positive & (groups == v)])
                if len(negs):
                    below = np.searchsorted(negs, scores[positive], "left")
                    tied = np.searchsorted(negs, scores[positive], "right") - below
                    self.table[:, v] = np.bincount(groups[positive], weights=below + 0.5 * tied, minlength=n_users)
            return
        self.table = None
        order = np.argsort(scores, kind="stable")
        negatives = order[~positive[order]]
        positives = np.flatnonzero(positive)
        # Each positive beats the negatives before pos_start in score order and ties those up to pos_end.
        self.neg_gather, self.pos_gather = groups[negatives], groups[positives]
        self.pos_start = np.searchsorted(scores[negatives], scores[positives], "left")
        self.pos_end = np.searchsorted(scores[negatives], scores[positives], "right")
        self.tied = bool(np.any(self.pos_end > self.pos_start))

    def __call__(self, user_counts: np.ndarray) -> np.ndarray:
        """(resamples x users) counts -> AUC per resample (nan where a class is absent)."""
        if self.table is None:
            return self.by_user(np.ascontiguousarray(user_counts.T, dtype=np.int32))
        c = np.asarray(user_counts, dtype=float)
        numerator = ((c @ self.table) * c).sum(axis=1)
        denominator = (c @ self.positives) * (c @ self.negatives)
        with np.errstate(invalid="ignore", divide="ignore"):
            return numerator / denominator

    def by_user(self, counts: np.ndarray) -> np.ndarray:
        """The per-sample way, from (users x resamples) int32 counts: the cells of a test set
        share that transposed copy (`_UserDraws.by_user`), which costs as much to make as the sums.
        Integers throughout (half a tie counted as twice the numerator); a cumulative sum down the rows
        adds whole rows at once, 3-4x faster than along each resample."""
        neg_cum = np.zeros((len(self.neg_gather) + 1, counts.shape[1]), dtype=np.int32)
        np.cumsum(counts[self.neg_gather], axis=0, out=neg_cum[1:])
        pos_counts = counts[self.pos_gather]
        below = neg_cum[self.pos_start]
        twice = below + neg_cum[self.pos_end] if self.tied else 2 * below
        numerator = np.einsum("ij,ij->j", pos_counts, twice, dtype=np.int64) / 2
        denominator = pos_counts.sum(axis=0, dtype=np.int64) * neg_cum[-1].astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return numerator / denominator


def _check(labels: Sequence[int], runs: Sequence[Sequence[float]], users: Sequence[str] | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """labels (n,), scores (runs x n), user index per sample (n,); each sample its own user if None."""
    y = np.asarray(labels, dtype=int)
    s = np.atleast_2d(np.asarray(runs, dtype=float))
    if set(np.unique(y)) - {0, 1}:
        raise BenchError("labels must be 0 or 1")
    if len(np.unique(y)) < 2:
        raise BenchError("an AUC interval needs both liked and not-liked samples in the test set")
    if s.shape[1] != len(y) or (users is not None and len(users) != len(y)):
        raise BenchError("scores, labels and users must cover the same test samples")
    groups = np.arange(len(y)) if users is None else np.unique(np.asarray(users), return_inverse=True)[1]
    return y, s, groups


def _user_counts(n_users: int, drawn_users: np.ndarray) -> np.ndarray:
    """(resamples x users drawn) user indices -> (resamples x users) how often each user was drawn."""
    rows = drawn_users.shape[0]
    return np.bincount((drawn_users + n_users * np.arange(rows)[:, None]).ravel(),
                       minlength=rows * n_users).reshape(rows, n_users)


def cluster_bootstrap_auc_ci(labels: Sequence[int], scores: Sequence[float], users: Sequence[str] | None = None,
                             *, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = 0
                             ) -> tuple[float, float]:
    """Percentile interval of one run's AUC, resampling users (scipy.stats.bootstrap over user
    indices). With one sample per user (or users=None) this is the plain bootstrap of samples."""
    y, s, groups = _check(labels, [scores], users)
    kernel = _ResampledAuc(y, s[0], groups)
    n_users = int(groups.max()) + 1

    def statistic(drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        drawn = np.moveaxis(np.asarray(drawn, dtype=np.int64), axis, -1)
        flat = drawn.reshape(-1, drawn.shape[-1])
        return kernel(_user_counts(n_users, flat)).reshape(drawn.shape[:-1])

    result = stats.bootstrap((np.arange(n_users),), statistic, vectorized=True, n_resamples=n_resamples,
                             confidence_level=confidence, method="percentile", batch=250,
                             random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    alpha = (1 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def auc_standard_error(labels: Sequence[int], scores: Sequence[float], users: Sequence[str] | None = None,
                       *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> float:
    """The bootstrap standard error of one run's AUC, resampling users."""
    bank = ResampleBank(seed)
    bank.add("cell", "test", labels, [scores], users)
    aucs = bank.resampled_means("cell", n_resamples)
    return float(np.std(aucs[np.isfinite(aucs)], ddof=1))


def _seed_weights(n_runs: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """(rows x runs) weights of a mean over runs drawn with replacement.

    Drawing n runs from n spreads their mean by sqrt((n-1)/n) of its usual standard error (0.71 at
    two seeds), so each draw's departure from the plain mean is scaled by sqrt(n/(n-1)): the seed part
    of the spread is then s/sqrt(n), with s the seeds' sample standard deviation."""
    drawn = rng.multinomial(n_runs, np.full(n_runs, 1 / n_runs), size=rows) / n_runs
    return 1 / n_runs + math.sqrt(n_runs / (n_runs - 1)) * (drawn - 1 / n_runs)


def _resampled_means(kernels, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mean AUC over runs drawn with replacement, on each resample's user counts: (resamples,)."""
    aucs = np.stack([kernel(counts) for kernel in kernels])  # runs x resamples
    if len(kernels) == 1:
        return aucs[0]
    return (_seed_weights(len(kernels), counts.shape[0], rng) * aucs.T).sum(axis=1)


BATCH = 250  # resamples per kernel call: bounds the (resamples x samples) work arrays


class _UserDraws:
    """One test set's stream of user resamples, drawn as far as anyone has asked and kept: every cell
    scored on the test set reads the same draws, so any two of them are paired."""

    def __init__(self, groups: np.ndarray, seed: int) -> None:
        self.n_users = int(groups.max()) + 1
        self.rng = np.random.default_rng(seed)
        self.counts = np.zeros((0, self.n_users), dtype=np.int32)
        self._by_user = np.zeros((self.n_users, 0), dtype=np.int32)

    def first(self, n: int) -> np.ndarray:
        if len(self.counts) < n:
            more = [self.counts]
            for start in range(len(self.counts), n, BATCH):
                rows = min(BATCH, n - start)
                more.append(_user_counts(self.n_users, self.rng.integers(0, self.n_users, size=(rows, self.n_users)))
                            .astype(np.int32))
            self.counts = np.concatenate(more)
        return self.counts[:n]

    def by_user(self, n: int) -> np.ndarray:
        """At least the first n resamples as (users x resamples) counts, made once for every cell."""
        if self._by_user.shape[1] < n:
            self._by_user = np.ascontiguousarray(self.first(n).T)
        return self._by_user


class _RunDraws:
    """One cell's runs on its test set: each run's AUC on every user resample (computed once, extended
    when more resamples are asked for) and the cell's own stream of seed draws."""

    def __init__(self, users: _UserDraws, kernels: list[_ResampledAuc], seed: int) -> None:
        self.users, self.kernels = users, kernels
        self.observed = [float(k(np.ones((1, users.n_users)))[0]) for k in kernels]
        self.aucs = np.zeros((len(kernels), 0))
        self.weights = np.zeros((0, len(kernels)))
        self.rng = np.random.default_rng(seed)

    def means(self, n: int) -> np.ndarray:
        """The resampled mean AUC over runs: (n,), the first n of this cell's stream."""
        done = self.aucs.shape[1]
        if done < n:
            counts = self.users.first(n)

            def batch(kernel: _ResampledAuc, start: int) -> np.ndarray:
                stop = min(start + BATCH, n)
                if kernel.table is None:
                    return kernel.by_user(self.users.by_user(n)[:, start:stop])
                return kernel(counts[start:stop])

            self.aucs = np.concatenate([self.aucs, *(np.stack([batch(k, start) for k in self.kernels])
                                                     for start in range(done, n, BATCH))], axis=1)
            if len(self.kernels) > 1:
                self.weights = np.concatenate([self.weights, _seed_weights(len(self.kernels), n - done, self.rng)])
        if len(self.kernels) == 1:
            return self.aucs[0, :n]
        return (self.weights[:n] * self.aucs[:, :n].T).sum(axis=1)


@dataclass(frozen=True)
class PairedDifference:
    """Mean AUC of A minus mean AUC of B on the same test samples, by a paired cluster bootstrap."""

    difference: float
    low: float
    high: float
    p_value: float  # two-sided bootstrap p of "no difference"
    n_users: int
    n_resamples: int
    standard_error: float = math.nan  # of the difference, over the resamples: what the resolution reads


class ResampleBank:
    """Every cell's resampled AUCs, computed once and shared by every interval and comparison that uses
    the cell. A test set has one stream of user draws (seeded by `seed`): all its cells read the same
    draws, so comparisons are paired. Each cell has its own stream of seed draws, seeded by its name: the
    bar's resampled means are the same whatever it is compared with, and do not depend on which other
    cells the report holds. Asking for more resamples extends the streams; the first n never change."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._test_sets: dict[Any, tuple[np.ndarray, np.ndarray, _UserDraws]] = {}
        self._cells: dict[Any, _RunDraws] = {}

    def _cell(self, name: str, test_set: Any, labels: Sequence[int], runs: Sequence[Sequence[float]],
              users: Sequence[str] | None) -> _RunDraws:
        if name not in self._cells:
            if test_set not in self._test_sets:
                y, _, groups = _check(labels, runs, users)
                self._test_sets[test_set] = (y, groups, _UserDraws(groups, self.seed))
            y, groups, draws = self._test_sets[test_set]
            _, s, _ = _check(labels, runs, users)
            cell_seed = zlib.crc32(f"{self.seed}|{name}".encode())
            self._cells[name] = _RunDraws(draws, [_ResampledAuc(y, run, groups) for run in s], cell_seed)
        return self._cells[name]

    def add(self, name: str, test_set: Any, labels: Sequence[int], runs: Sequence[Sequence[float]],
            users: Sequence[str] | None = None) -> None:
        """Make a cell known: `name` identifies it in the report, `test_set` the samples it scored (cells
        with equal `test_set` share user draws and must have the same labels and users)."""
        self._cell(name, test_set, labels, runs, users)

    def resampled_means(self, name: str, n_resamples: int = N_RESAMPLES) -> np.ndarray:
        """The cell's mean AUC on each of the first `n_resamples` resamples."""
        return self._cells[name].means(n_resamples)

    def interval(self, name: str, *, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES
                 ) -> tuple[float, float]:
        """Percentile interval of the cell's mean AUC (users, and seeds for a mean over seeds)."""
        return _percentiles(self._cells[name].means(n_resamples), confidence)

    def paired(self, name_a: str, name_b: str, *, confidence: float = CONFIDENCE,
               n_resamples: int = N_RESAMPLES) -> PairedDifference:
        """Mean AUC(A) - mean AUC(B) on the user draws both share; two-sided bootstrap p."""
        a, b = self._cells[name_a], self._cells[name_b]
        if a.users is not b.users:
            raise BenchError(f"{name_a!r} and {name_b!r} scored different test samples: no paired comparison")
        observed = float(np.mean(a.observed) - np.mean(b.observed))
        diffs = a.means(n_resamples) - b.means(n_resamples)
        diffs = diffs[np.isfinite(diffs)]
        if np.all(diffs == 0):
            p = 1.0  # the same ranking on every resample: no evidence of a difference
        else:
            below, above = np.sum(diffs <= 0), np.sum(diffs >= 0)
            p = float(min(1.0, 2 * (1 + min(below, above)) / (len(diffs) + 1)))
        low, high = _percentiles(diffs, confidence)
        return PairedDifference(observed, low, high, p, a.users.n_users, len(diffs), float(np.std(diffs, ddof=1)))


def mean_auc_interval(labels: Sequence[int], runs: Sequence[Sequence[float]], users: Sequence[str] | None = None,
                      *, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = 0
                      ) -> tuple[float, float]:
    """Interval of the mean AUC over runs (seeds) that carries both the user and the seed spread:
    a two-level percentile bootstrap (users, then runs, with replacement)."""
    bank = ResampleBank(seed)
    bank.add("cell", "test", labels, runs, users)
    return bank.interval("cell", confidence=confidence, n_resamples=n_resamples)


def paired_difference(labels: Sequence[int], runs_a: Sequence[Sequence[float]], runs_b: Sequence[Sequence[float]],
                      users: Sequence[str] | None = None, *, confidence: float = CONFIDENCE,
                      n_resamples: int = N_RESAMPLES, seed: int = 0) -> PairedDifference:
    """Paired cluster bootstrap of mean AUC(A) - mean AUC(B): each resample draws one set of users
    for both methods and, for each, runs with replacement."""
    bank = ResampleBank(seed)
    bank.add("a", "test", labels, runs_a, users)
    bank.add("b", "test", labels, runs_b, users)
    return bank.paired("a", "b", confidence=confidence, n_resamples=n_resamples)


def uauc(labels: Sequence[int], scores: Sequence[float], users: Sequence[str]) -> tuple[float, int]:
    """The mean of per-user AUCs over users who have both labels (as the CTR literature reports
    it), and how many users that is; (nan, 0) when no user has both."""
    y, s, groups = _check(labels, [scores], users)
    n_users = int(groups.max()) + 1
    both = np.flatnonzero((np.bincount(groups, weights=y, minlength=n_users) > 0)
                          & (np.bincount(groups, weights=1 - y, minlength=n_users) > 0))
    per_user = []
    for g in both:
        mine = groups == g
        per_user.append(_ResampledAuc(y[mine], s[0][mine], np.zeros(int(mine.sum()), dtype=int))(np.ones((1, 1)))[0])
    return (float(np.mean(per_user)), len(per_user)) if per_user else (float("nan"), 0)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone)."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()
