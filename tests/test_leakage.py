"""No method reads a label it may not see: permuting the labels of the scored test samples, or of the
validation set it is fitted with, leaves every score exactly as it was.

Real movie data (K=16, seed 0, the whole train pool, the first 200 test samples), each cheap method
built from its defaults (gru4rec with one epoch); the LM methods are left to tests/test_conformance.py,
which reverses test labels on a smaller set.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bench.data.samples import Sample
from bench.data.splits import TrainingSet, training_set
from bench.run import registry

CHEAP = {"random": {}, "like-ratio": {}, "popularity": {}, "mf": {}, "stack": {}, "gru4rec": {"epochs": "1", "patience": "1"}}
# gru4rec may read the validation labels, as documented, to pick its epoch by validation AUC: with one
# epoch there is nothing to pick, so any other use of them (training on them) would show here.


@pytest.fixture(scope="module")
def movie(data_dir: Path) -> TrainingSet:
    return training_set("movie", 16, 0, data_dir)


def _permuted(samples: list[Sample], seed: int) -> list[Sample]:
    labels = np.random.default_rng(seed).permutation([s.label for s in samples])
    out = [dataclasses.replace(s, label=int(y)) for s, y in zip(samples, labels, strict=True)]
    assert any(a.label != b.label for a, b in zip(samples, out, strict=True))  # the permutation moved some
    return out


def _fit_and_score(name: str, ts: TrainingSet, valid: list[Sample], test: list[Sample], folder: Path):
    method = registry.build(name, CHEAP[name])
    context = registry.FitContext(seed=0, train_plan=ts.plan, train_domains=["movie"], train_pool=ts.pool,
                                  artifact_dir=folder, device="cpu")
    method.fit(ts.shots, valid, context)
    return method, method.score(test)


@pytest.mark.parametrize("name", list(CHEAP))
def test_scores_do_not_depend_on_test_or_validation_labels(name, movie, tmp_path):
    assert name in registry.available()
    test = movie.domains[0].test[:200]
    method, scores = _fit_and_score(name, movie, movie.valid, test, tmp_path / "fit")
    assert method.score(_permuted(test, 1)) == scores, "a score depends on the test labels"
    _, blind = _fit_and_score(name, movie, _permuted(movie.valid, 2), test, tmp_path / "blind")
    assert blind == scores, "a score depends on the validation labels"
