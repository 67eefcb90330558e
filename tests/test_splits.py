"""Few-shot splits follow the reference sampling; cross-domain plans take K from each domain."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.domains import load_domain
from bench.data.splits import evaluation_subset, few_shot, training_set
from bench.errors import BenchError


def test_shots_are_the_reference_permutation_prefix(data_dir):
    pool = load_domain("movie", data_dir).train
    shots = few_shot(pool, 16, seed=42, domain="movie")
    expected = np.random.default_rng(42).permutation(len(pool))[:16]
    assert [s.uid for s in shots] == [pool[i].uid for i in expected]
    # a larger K extends a smaller one, as `shuffle(seed).select(range(K))` does
    assert few_shot(pool, 64, seed=42, domain="movie")[:16] == shots
    assert few_shot(pool, 16, seed=43, domain="movie") != shots


def test_both_takes_k_from_each_domain(data_dir):
    both = training_set("both", 16, 0, data_dir)
    assert [s.domain for s in both.shots].count("movie") == 16
    assert [s.domain for s in both.shots].count("book") == 16
    assert len(both.valid) == 1000 + 500


def test_k_larger_than_pool_is_an_error(data_dir):
    with pytest.raises(BenchError, match=r"K=5000 is larger than the book train pool \(1927 samples\)"):
        training_set("book", 5000, 0, data_dir)


def test_test_subset_is_fixed_and_keeps_file_order(data_dir):
    test = load_domain("movie", data_dir).test
    subset = evaluation_subset(test, 100)
    assert subset == evaluation_subset(test, 100) and len(subset) == 100
    positions = [test.index(s) for s in subset]
    assert positions == sorted(positions)
