"""The stacked hybrid on the real movie data: no shot's log feature sees its own label, it fits and
scores, and an LM feature (the tiny random model, as a stand-in for a real LM) joins the regression."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.data.splits import pool_without, training_set
from bench.errors import BenchError
from bench.metrics import auc
from bench.run import registry


@pytest.fixture(scope="module")
def movie(data_dir: Path):
    return training_set("movie", 16, 0, data_dir)


def _context(ts, tmp_path: Path) -> registry.FitContext:
    return registry.FitContext(seed=0, train_plan="movie", train_domains=["movie"], train_pool=ts.pool,
                               artifact_dir=tmp_path, device="cpu")


def test_the_reduced_pool_holds_no_pair_of_a_shot(movie):
    pairs = {(s.domain, s.user, s.target.id) for s in movie.shots}
    reduced = pool_without(movie.pool, movie.shots)
    seen = {(s.domain, s.user, i) for s in reduced for i in [s.target.id, *(h.item.id for h in s.history)]}
    assert not seen & pairs
    assert all(shot not in reduced for shot in movie.shots)
    # a shot's (user, item) also sits in that user's later windows: those lose one history entry each
    assert sum(len(s.history) < 10 for s in reduced) > 0 and len(reduced) > len(movie.pool) - 2 * len(movie.shots)


def test_stack_fits_on_the_shots_and_scores(movie, tmp_path, data_dir):
    from bench.data.domains import load_domain

    method = registry.build("stack", {})
    method.fit(movie.shots, movie.valid, _context(movie, tmp_path))
    test = load_domain("movie", data_dir).test
    value = auc([s.label for s in test], method.score(test))
    print(f"stack movie K=16 seed 0 test AUC {value:.4f}; {method.extra_record()}")
    assert 0.6 < value < 0.9
    extra = method.extra_record()
    assert set(extra["coefficients"]) == {"like_ratio", "item_rate", "mf"} and extra["shots"] == 16
    assert extra["pool_samples_kept"] == 8000 - 16


def test_stack_with_an_lm_feature(movie, tmp_path):
    method = registry.build("stack", {"lm": "true", "lm_model": "tiny-random-llama"})
    method.fit(movie.shots, movie.valid, _context(movie, tmp_path))
    scores = method.score(movie.valid[:20])
    assert len(scores) == 20 and "lm_logodds" in method.extra_record()["coefficients"]


def test_bad_parameters_and_one_class_shots(movie, tmp_path):
    with pytest.raises(BenchError, match="stack: bad c=0.0"):
        registry.build("stack", {"c": "0"})
    with pytest.raises(BenchError, match="lm_model names the LM of the log-odds feature; set lm=true"):
        registry.build("stack", {"lm_model": "other"})  # without lm it would be a second row of the same results
    assert registry.build("stack", {"lm": "true", "lm_model": "other"}).lm_model == "other"
    liked = [s for s in movie.pool if s.label][:16]
    with pytest.raises(BenchError, match="one class only"):
        registry.build("stack", {}).fit(liked, movie.valid, _context(movie, tmp_path))
