"""Every registered method honours the contract, in the spirit of scikit-learn's check_estimator:
it builds from its defaults, its config rebuilds it, it gives one finite score per sample, the same
seed gives the same scores, and no score depends on a test label (permute them: nothing changes).

Small and fast on purpose: 16 real movie shots, 24 test samples, the fewest epochs each method
allows, and the untrained tiny-random-llama for the LM methods (icl talks to the tests' real HTTP
server on 127.0.0.1, which serves that model)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from fault_server import FaultyChatServer

from bench.data.domains import load_domain
from bench.data.splits import few_shot
from bench.lm import tiny_random_llama
from bench.lm.openai_server import HFChatBackend
from bench.run import registry

FAST = {
    "gru4rec": {"epochs": "1"}, "caser": {"epochs": "1"}, "sasrec": {"epochs": "1"},
    "gru4rec-text": {"epochs": "1"}, "sasrec-text": {"epochs": "1"},
    "zero-shot": {"model": "tiny-random-llama"},
    "tallrec": {"model": "tiny-random-llama", "preset": "fast", "epochs": "1", "micro_batch_size": "16",
                "valid_size": "8", "eval_steps": "1"},
}
BUILT_IN = [name for name in registry.available() if not name.startswith("test-")]


@pytest.fixture(scope="module")
def movie(data_dir):
    domain = load_domain("movie", data_dir)
    return few_shot(domain.train, 16, 0, "movie"), domain.valid[:40], domain.test[:24], domain.train


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory):
    folder = tiny_random_llama.build(tmp_path_factory.mktemp("tiny"), tiny_random_llama.default_texts())
    server = FaultyChatServer(HFChatBackend(str(folder), model_name="tiny_random_llama", threads=1)).start()
    yield server
    server.stop()


def _params(name: str, request) -> dict[str, str]:
    if name == "icl":
        server = request.getfixturevalue("chat_server")
        return {"model": "tiny_random_llama", "base_url": server.base_url, "k": "1", "top_logprobs": "400",
                "concurrency": "1"}
    return FAST.get(name, {})


def _fit_and_score(name, params, movie, tmp_path, seed=0, test=None):
    shots, valid, default_test, pool = movie
    method = registry.build(name, params, device="cpu")
    method.fit(shots, valid, registry.FitContext(seed=seed, train_plan="movie", train_domains=["movie"],
                                                 train_pool=pool, artifact_dir=tmp_path / f"fit-{seed}",
                                                 device="cpu"))
    return method, method.score(test if test is not None else default_test)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_method_honours_the_contract(name, movie, tmp_path, request, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))  # icl's response cache, text vectors
    assert isinstance(registry.build(name), registry.Method)  # builds from its defaults
    params = _params(name, request)
    method, scores = _fit_and_score(name, params, movie, tmp_path)
    rebuilt = registry.from_config(name, method.config())
    assert rebuilt.config() == method.config()
    test = movie[2]
    assert len(scores) == len(test) and all(isinstance(s, float) and math.isfinite(s) for s in scores)

    _, again = _fit_and_score(name, params, movie, tmp_path / "again")
    assert np.allclose(again, scores, rtol=0, atol=1e-6), "the same seed must give the same scores"

    flipped = [dataclasses.replace(s, label=1 - s.label) for s in test]  # every test label reversed
    _, blind = _fit_and_score(name, params, movie, tmp_path / "blind", test=flipped)
    assert np.allclose(blind, scores, rtol=0, atol=1e-6), "a score must not depend on a test label"
