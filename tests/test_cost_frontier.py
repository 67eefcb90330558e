"""AUC against cost, from synthetic records with cost fields: the Pareto front, the cost per 1000 test
samples (a reused fit, reused scores, the floor), API dollars, machines, and the figure's files."""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from bench.report.aggregate import aggregate
from bench.report.cost_frontier import COST_FLOOR, cost_frontier, draw_cost_frontier, front_rows, pareto_front
from bench.report.costs import cell_cost, cost_column, record_seconds
from bench.run.store import cell_key

RNG = np.random.default_rng(0)
SIZES = {"movie": 300, "book": 400, "movie-temporal": 200}
LABELS = {d: RNG.integers(0, 2, n).tolist() for d, n in SIZES.items()}
AMD = "host x86_64, AMD EPYC, 2 CPUs"
INTEL = "host x86_64, Intel(R) Xeon(R) Processor, 8 CPUs"
TALLREC = {"model": "smollm2-135m-instruct", "preset": "cpu", "score": "logodds"}


def make_record(method, test, shots, seed, *, signal=0.0, fit=0.0, score=0.0, machine=AMD, config=None,
                extra=None, test_size=None):
    """An in-domain record of `test` that took `fit` + `score` seconds on `machine`."""
    labels = LABELS[test]
    rng = np.random.default_rng(zlib.crc32(repr((method, test, shots, seed)).encode()))
    scores = (np.asarray(labels) * signal + rng.random(len(labels))).tolist()
    identity = dict(method=method, config=config or {}, train=test, test=test, shots=shots, seed=seed,
                    test_size=test_size)
    from sklearn.metrics import roc_auc_score

    return dict(identity, key=cell_key(identity), status="ok", n_test=len(labels),
                auc=float(roc_auc_score(labels, scores)),
                sample_ids=[f"{test}-{i}" for i in range(len(labels))],
                labels=labels, users=[f"{test}-u{i // 20}" for i in range(len(labels))], scores=scores,
                fit_seconds=fit, score_seconds=score, wall_seconds=fit + score, device="cpu", machine=machine,
                method_extra=extra or {})


@pytest.fixture(scope="module")
def records():
    recs = []
    for seed in (0, 1):
        # movie, the hand-made set: cheap-weak, cheap-strong, dear-strong (a reused fit), dear-weak
        recs.append(make_record("random", "movie", 16, seed, fit=0.0, score=0.06))  # 0.2 s per 1000
        recs.append(make_record("like-ratio", "movie", 16, seed, signal=0.6, score=0.3))  # 1 s per 1000
        # (600 + 300) s for 300 samples: 3000 s per 1000
        recs.append(make_record("tallrec", "movie", 16, seed, signal=2.0, fit=0.01, score=300.0,
                                machine=INTEL, config=TALLREC, extra={"train_seconds": 600.0}))
        recs.append(make_record("popularity", "movie", 16, seed, signal=0.2, fit=100.0, score=50.0,
                                machine=AMD if seed == 0 else INTEL))  # 500 s per 1000, seeds on two machines
        # book: two costs under the floor, the weaker one cheaper; an API method with dollars
        recs.append(make_record("random", "book", 16, seed, score=1e-6))
        recs.append(make_record("like-ratio", "book", 16, seed, signal=0.6, score=0.002))  # 0.005 s per 1000
        recs.append(make_record("icl", "book", 16, seed, signal=0.1, score=40.0,
                                config={"model": "gpt-4o-mini"}, extra={"cost_usd": 0.04}))  # $0.1 per 1000
    # movie-temporal: a zero-shot cell that scored a quarter of its prompts, one that reused them all
    recs.append(make_record("zero-shot", "movie-temporal", 16, 0, signal=0.3, score=10.0,  # 40 s for all 200
                            extra={"scored_prompts": 50, "reused_scores": 150}))
    recs.append(make_record("zero-shot", "movie-temporal", 64, 0, signal=0.3, score=0.01,
                            extra={"scored_prompts": 0, "reused_scores": 200}))
    recs.append(make_record("like-ratio", "movie", 16, 0, signal=0.6, score=0.3, test_size=100))  # a subset
    return recs


@pytest.fixture(scope="module")
def tables(records):
    return aggregate(records, with_statistics=False)


def row_of(tables, method: str) -> str:
    """The row label of the method's one configuration in the full test sets."""
    (row,) = {k[4] for k, c in tables.cells.items() if k[0] is None and c.method == method}
    return row


def test_pareto_front_of_a_hand_made_set():
    cheap_weak, cheap_strong, dear_strong, dear_weak = (1.0, 55.0), (2.0, 70.0), (500.0, 80.0), (400.0, 60.0)
    assert pareto_front([cheap_weak, cheap_strong, dear_strong, dear_weak]) == [0, 1, 2]
    assert pareto_front([(5.0, 70.0), (5.0, 70.0), (6.0, 70.0)]) == [0, 1]  # equal points are both on it
    assert pareto_front([]) == []


def test_front_rows_from_records(tables):
    fronts = front_rows(tables)
    # cheap-weak, cheap-strong and dear-strong; not dear-weak popularity
    assert fronts["movie"] == [("random", 16), ("like-ratio", 16), (row_of(tables, "tallrec"), 16)]
    # both book baselines cost under the floor: they count as equal, so only the stronger is on the front
    assert fronts["book"] == [("like-ratio", 16)]
    assert fronts["movie-temporal"] == [(row_of(tables, "zero-shot"), 16)]


def test_cost_per_1000_samples(tables):
    costs = cost_column(tables)
    assert costs[("movie", "random", 16)] == pytest.approx(0.2)
    assert costs[("movie", "like-ratio", 16)] == pytest.approx(1.0)
    # the reused fit counts the training time recorded with it
    assert costs[("movie", row_of(tables, "tallrec"), 16)] == pytest.approx(3000.0)
    assert costs[("movie", "popularity", 16)] == pytest.approx(500.0)
    assert costs[("book", "like-ratio", 16)] == pytest.approx(0.005)  # not clipped: a table can say '<0.01'
    zero_shot = row_of(tables, "zero-shot")
    assert costs[("movie-temporal", zero_shot, 16)] == pytest.approx(200.0)  # scaled to all 200 samples
    assert ("movie-temporal", zero_shot, 64) not in costs  # every score reused: nothing measured
    assert all(k[0] in {"movie", "book", "movie-temporal"} for k in costs)  # full test sets only by default
    assert cost_column(tables, 100) == {("movie", "like-ratio", 16): pytest.approx(1.0 * 300 / 300)}

    popularity = cell_cost(tables.get(None, "movie", "movie", 16, "popularity"))
    assert popularity.machines == (AMD, INTEL) and popularity.measured == popularity.records == 2
    icl = cell_cost(next(c for k, c in tables.cells.items() if k[2] == "book" and c.method == "icl"))
    assert icl.dollars == pytest.approx(0.1)
    assert cell_cost(tables.get(None, "movie", "movie", 16, "random")).dollars is None


def test_record_seconds_rules():
    base = {"n_test": 1000, "fit_seconds": 2.0, "score_seconds": 8.0}
    assert record_seconds(base) == pytest.approx(10.0)
    assert record_seconds(dict(base, n_test=500)) == pytest.approx(20.0)
    assert record_seconds({"n_test": 1000, "score_seconds": 8.0}) is None  # no fit time recorded
    reused_fit = dict(base, fit_seconds=0.01, method_extra={"train_seconds": 92.0})
    assert record_seconds(reused_fit) == pytest.approx(100.0)
    half = dict(base, method_extra={"scored_prompts": 500, "reused_scores": 500})
    assert record_seconds(half) == pytest.approx(18.0)
    assert record_seconds(dict(base, method_extra={"scored_prompts": 0, "reused_scores": 1000})) is None


def test_figure_written_and_readable(tables, tmp_path: Path):
    paths = cost_frontier(tables, tmp_path / "figs" / "cost_frontier")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in paths)
    height, width = mpimg.imread(paths[0]).shape[:2]
    assert max(height, width) <= 2000

    fig = draw_cost_frontier(tables)
    legends = fig.legends + [legend for sub in fig.subfigs for legend in sub.legends]
    texts = [t.get_text() for legend in legends for t in legend.get_texts()]
    assert f"ran on: {AMD}" in texts and f"ran on: {INTEL}" in texts  # machines named
    assert any("different machines" in t for t in texts)  # the popularity cell's seeds
    labels = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "front-label"]
    assert "tallrec, K=16" in labels and "like-ratio, K=16" in labels  # the tables' labels
    assert all(len(t) < 60 for t in labels)
    assert "$0.1/1k" in [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "API dollars per 1000 test samples" in fig._suptitle.get_text()
    gids = {line.get_gid() for ax in fig.axes for line in ax.lines}
    assert "front:random:K=16" in gids and "point:popularity:K=16" in gids
    floor_x = [line.get_xdata()[0] for ax in fig.axes for line in ax.lines
               if line.get_gid() == "point:random:K=16"]
    assert floor_x == [COST_FLOOR]  # the book cell cost ~0 s: drawn at the floor
    plt.close(fig)


def test_nothing_to_draw(tmp_path: Path):
    subset_only = aggregate([make_record("like-ratio", "movie", 16, 0, signal=0.6, score=0.3, test_size=100)],
                            with_statistics=False)
    assert cost_frontier(subset_only, tmp_path / "none") == []
    assert not list(tmp_path.iterdir())
