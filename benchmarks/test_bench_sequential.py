"""Wall time of one cell (fit on K=256 movie shots with early stopping, score the 1000 movie test
samples) for each RecBole sequential baseline, default parameters, CPU.

    BENCH_DATA_DIR=../shared/data nice -n 10 pytest benchmarks/test_bench_sequential.py

`tox -e perf` runs it with the other suites here and compares ratios with benchmarks/baseline.json.
One round per method:
a cell takes seconds, and imports, the RecBole Config and the text vectors of the movie items are
warmed up before timing, so the numbers are steady-state cell times.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.data.domains import load_domain
from bench.data.splits import training_set
from bench.metrics import auc
from bench.run import registry

METHODS = ["gru4rec", "caser", "sasrec", "gru4rec-text", "sasrec-text"]
K = 256


@pytest.fixture(scope="module")
def cell():
    train = training_set("movie", K, 0)
    test = load_domain("movie").test
    context = registry.FitContext(seed=0, train_plan="movie", train_domains=["movie"], train_pool=train.pool,
                                  artifact_dir=Path("unused"), device="cpu")

    def run(name: str, **params: str) -> float:
        method = registry.build(name, params)
        method.fit(train.shots, train.valid, context)
        return auc([s.label for s in test], method.score(test))

    for name in ("gru4rec", "gru4rec-text"):  # warm-up: imports, Config, cached movie text vectors
        run(name, epochs="1")
    return run


@pytest.mark.parametrize("name", METHODS)
def test_one_cell_k256(benchmark, cell, name):
    result = benchmark.pedantic(cell, args=(name,), rounds=1, iterations=1)
    assert 0.0 <= result <= 1.0
