"""The LM prompt options on the real movie data: retrieved histories come from the user's past before
the target, in time order; the collaborative hint never tells a shot its own label; both change the
prompt and the cell key, and at their defaults keep the keys recorded before they existed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bench.data.domains import load_domain
from bench.data.item_rates import ItemRates
from bench.data.prompts import alpaca_prompt
from bench.data.splits import pool_without, training_set
from bench.errors import BenchError
from bench.lm import prompt_options
from bench.lm.text_embeddings import item_vectors
from bench.run import registry
from bench.run.identity import key_config


@pytest.fixture(scope="module")
def movie(data_dir: Path):
    return load_domain("movie", data_dir)


def test_retrieved_histories_are_the_most_similar_past_items_in_time_order(movie):
    samples = movie.test[:50]
    out = prompt_options.retrieved(samples, "zero-shot")
    changed = 0
    for s, r in zip(samples, out, strict=True):
        assert len(r.history) == len(s.history) and r.target == s.target and r.label == s.label
        positions = [s.past.index(h) for h in r.history]
        assert positions == sorted(positions)  # time order kept
        v = item_vectors("movie", [s.target, *(h.item for h in s.past)])
        sims = sorted((float(v[h.item.id] @ v[s.target.id]) for h in s.past), reverse=True)
        chosen = [float(v[h.item.id] @ v[s.target.id]) for h in r.history]
        assert min(chosen) >= sims[len(s.history) - 1] - 1e-6  # the top 10 by similarity
        changed += r.history != s.history
    assert changed > 25 and all(len(s.past) > 10 for s in samples)
    assert alpaca_prompt(out[0]) != alpaca_prompt(samples[0])


def test_retrieval_is_not_applicable_without_a_past(data_dir):
    book = load_domain("book", data_dir)
    with pytest.raises(BenchError, match="history=retrieved is not applicable to the book domain"):
        prompt_options.retrieved(book.test[:3], "zero-shot")


def _flipped(pool, shot):
    """The pool with the shot's own label flipped wherever it shows: its sample's label, and the liked
    flag of that (user, item) in the user's other windows."""
    out = []
    for s in pool:
        if s.user != shot.user:
            out.append(s)
            continue
        history = tuple(dataclasses.replace(h, liked=not h.liked) if h.item.id == shot.target.id else h
                        for h in s.history)
        label = 1 - s.label if s.target.id == shot.target.id else s.label
        out.append(dataclasses.replace(s, history=history, label=label))
    return out


def test_the_hint_never_tells_a_shot_its_own_label(data_dir):
    ts = training_set("movie", 16, 0, data_dir)
    full = ItemRates(ts.pool)
    reduced = ItemRates(pool_without(ts.pool, ts.shots))
    for shot in ts.shots[:4]:
        flipped = [dataclasses.replace(s, label=1 - s.label) if s == shot else s for s in ts.shots]
        other = ItemRates(pool_without(_flipped(ts.pool, shot), flipped))
        # the hint does not move with the shot's own label; without pool_without it would
        assert prompt_options.hint(shot, other) == prompt_options.hint(shot, reduced)
        assert prompt_options.hint(shot, ItemRates(_flipped(ts.pool, shot))) != prompt_options.hint(shot, full)
    (hinted,) = prompt_options.with_hints(ts.shots[:1], reduced)
    assert "Collaborative hint: the user liked" in alpaca_prompt(hinted) and "movies listed" in hinted.note


def test_options_enter_the_key_only_when_set():
    default = registry.build("zero-shot", {})
    assert "history" not in key_config(default) and "hint" not in key_config(default)
    both = registry.build("zero-shot", {"history": "retrieved", "hint": "true"})
    assert key_config(both)["history"] == "retrieved" and key_config(both)["hint"] is True
    assert key_config(registry.build("tallrec", {"hint": "true", "preset": "fast"}))["hint"] is True
    with pytest.raises(BenchError, match="zero-shot.history must be one of recent, retrieved"):
        registry.build("zero-shot", {"history": "longest"})


def test_zero_shot_scores_with_both_options(data_dir, tmp_path):
    ts = training_set("movie", 16, 0, data_dir)
    context = registry.FitContext(seed=0, train_plan="movie", train_domains=["movie"], train_pool=ts.pool,
                                  artifact_dir=tmp_path, device="cpu")
    test = load_domain("movie", data_dir).test[:12]
    scores = {}
    for name, params in {"plain": {}, "options": {"history": "retrieved", "hint": "true"}}.items():
        method = registry.build("zero-shot", {"model": "tiny-random-llama", **params})
        method.fit(ts.shots, ts.valid, context)
        scores[name] = np.asarray(method.score(test))
    assert scores["plain"].shape == scores["options"].shape == (12,)
    assert not np.allclose(scores["plain"], scores["options"])  # other prompts, other scores


def test_icl_asks_about_the_retrieved_history(data_dir):
    ts = training_set("movie", 16, 0, data_dir)
    test = load_domain("movie", data_dir).test[:3]
    plain = registry.build("icl", {"model": "m", "base_url": "http://127.0.0.1:9/v1", "k": "2"})
    retrieving = registry.build("icl", {"model": "m", "base_url": "http://127.0.0.1:9/v1", "k": "2",
                                         "history": "retrieved"})
    context = registry.FitContext(seed=0, train_plan="movie", train_domains=["movie"], train_pool=ts.pool,
                                  artifact_dir=Path("unused"), device="cpu")
    for method in (plain, retrieving):
        method.fit(ts.shots, ts.valid, context)
    asked = [retrieving.request_for(s)["messages"] for s in prompt_options.retrieved(test, "icl")]
    assert asked != [plain.request_for(s)["messages"] for s in test]
    assert retrieving._examples == prompt_options.retrieved(ts.shots[:2], "icl")
    assert "history" not in key_config(plain) and key_config(retrieving)["history"] == "retrieved"
