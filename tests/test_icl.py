"""The `icl` method against a real OpenAI-compatible HTTP server on 127.0.0.1 (bench.openai_server),
backed by a tiny randomly initialised Llama: real logprobs, real HTTP, injected failures, and a run
interrupted midway that resumes without sending any request twice (counted by the server)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import runner
from bench import tiny_random_llama as tiny_random_llama_model
from bench.data import load_domain
from bench.errors import BenchError
from bench.openai_server import ChatServer, HFChatBackend
from bench.response_cache import ResponseCache, request_key
from bench.splits import few_shot
from bench.store import ResultStore
from methods.icl import InContextChat, messages_for, parsed_answer, price_for, score_response

SECRET = "sk-test-secret-0123456789abcdef"
@pytest.fixture(scope="session")
def tiny_random_llama(tmp_path_factory) -> Path:
    """bench's untrained 2-layer Llama (with its chat template): its answers mean nothing, its logprobs are real."""
    return tiny_random_llama_model.build(tmp_path_factory.mktemp("tiny_random_llama"),
                                         tiny_random_llama_model.default_texts())


@pytest.fixture(scope="session")
def backend(tiny_random_llama):
    return HFChatBackend(str(tiny_random_llama), model_name="tiny_random_llama", threads=1)


@pytest.fixture(scope="session")
def session_server(backend):
    server = ChatServer(backend).start()
    yield server
    server.stop()


@pytest.fixture
def server(session_server):
    session_server.clear()
    return session_server


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Each test: its own response cache, a recognisable secret key, no endpoint from the environment."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    for name in ("OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def movie(data_dir):
    domain = load_domain("movie", data_dir)
    return few_shot(domain.train, 4, 0, "movie"), domain.test[:6]


def make(server: ChatServer, **overrides) -> InContextChat:
    params = dict(base_url=server.base_url, model="tiny_random_llama", k=1, top_logprobs=400, max_retries=2,
                  timeout=20.0, concurrency=1)
    return InContextChat(**{**params, **overrides})


def fitted(method: InContextChat, movie) -> InContextChat:
    shots, _ = movie
    method.fit(shots, [], context=None)
    return method


def test_scores_come_from_logprobs_with_usage_counted(server, movie):
    method = fitted(make(server, concurrency=2), movie)
    scores = method.score(movie[1])
    extra = method.extra_record()
    assert len(scores) == 6 and all(0.0 < s < 1.0 for s in scores)
    assert len(set(scores)) > 1  # real logprobs of different prompts, not a constant
    assert extra["score_source"] == "logprobs" and extra["hard_label_samples"] == 0
    assert extra["requests_sent"] == 6 and extra["cache_hits"] == 0
    assert extra["usage"]["prompt_tokens"] > 6 * 100 and extra["usage"]["completion_tokens"] == 6 * 3
    assert extra["cost_usd"] is None and extra["price_usd_per_1m_tokens"] is None  # unknown model: tokens only
    assert server.stats.chat_requests == 6

    again = fitted(make(server), movie)
    assert again.score(movie[1]) == scores  # all from the cache
    assert again.extra_record()["requests_sent"] == 0 and again.extra_record()["cache_hits"] == 6
    assert again.extra_record()["usage"] == extra["usage"]
    assert server.stats.chat_requests == 6


def test_prompt_holds_k_examples_with_answers(movie):
    shots, test = movie
    chat = messages_for(test[0], shots[:2])
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant", "user"]
    assert chat[1]["content"] in ("Yes.", "No.") and "User Preference:" in chat[-1]["content"]
    assert messages_for(test[0], []) == chat[-1:]


def test_429_waits_for_retry_after(server, movie):
    server.inject({"kind": "429", "retry_after": 1})
    method = fitted(make(server), movie)
    assert len(method.score(movie[1][:1])) == 1
    (t429, first), (t_ok, second) = server.stats.request_times
    assert (first, second) == ("429", "ok")
    assert t_ok - t429 >= 0.95  # the client's own backoff would be 0.5 s at most


def test_500_is_retried(server, movie):
    server.inject({"kind": "500", "count": 2})
    method = fitted(make(server), movie)
    method.score(movie[1][:1])
    assert server.stats.outcomes["500"] == 2 and server.stats.outcomes["ok"] == 1


def test_slow_response_times_out_and_is_retried(server, movie):
    server.inject({"kind": "slow", "seconds": 1.5})
    method = fitted(make(server, timeout=0.5), movie)
    assert len(method.score(movie[1][:1])) == 1
    assert server.stats.chat_requests == 2
    assert method.extra_record()["requests_sent"] == 1
    for _ in range(100):  # let the abandoned slow answer finish before the next test resets counters
        if server.stats.outcomes["slow"]:
            break
        time.sleep(0.05)


def test_too_many_failures_raise_a_bench_error(server, movie):
    server.inject({"kind": "500", "count": 2})
    with pytest.raises(BenchError, match="HTTP 500"):
        fitted(make(server, max_retries=1), movie).score(movie[1][:1])


def test_without_logprobs_the_parsed_answer_is_the_score(server, movie):
    server.inject({"kind": "no_logprobs", "content": "Yes."}, {"kind": "no_logprobs", "content": "no"},
                  {"kind": "no_logprobs", "content": "Perhaps"})
    method = fitted(make(server), movie)
    scores = method.score(movie[1][:4])
    assert scores[:3] == [1.0, 0.0, 0.5]
    extra = method.extra_record()
    assert extra["score_source"] == "mixed" and extra["hard_label_samples"] == 3


def test_malformed_json_is_retried_then_reported(server, movie):
    server.inject({"kind": "malformed"})
    method = fitted(make(server), movie)
    assert len(method.score(movie[1][:1])) == 1
    assert server.stats.outcomes["malformed"] == 1 and server.stats.outcomes["ok"] == 1

    server.inject({"kind": "malformed", "count": 2})
    with pytest.raises(BenchError, match="malformed"):
        fitted(make(server, max_retries=1), movie).score(movie[1][1:2])


def test_unreachable_endpoint_is_a_clear_error(movie):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    method = InContextChat(base_url=f"http://127.0.0.1:{port}/v1", model="m", k=1, max_retries=0)
    method.fit(movie[0], [], context=None)
    with pytest.raises(BenchError, match="cannot reach"):
        method.score(movie[1][:2])


def test_rejected_key_is_a_clear_error_without_the_key(backend, movie):
    server = ChatServer(backend, api_key="the-right-key").start()
    try:
        with pytest.raises(BenchError, match="401") as caught:
            fitted(make(server), movie).score(movie[1][:2])
        assert SECRET not in str(caught.value)
        assert server.stats.outcomes["401"] >= 1 and not server.stats.answered
    finally:
        server.stop()


def test_interrupted_run_resumes_without_sending_anything_twice(server, data_dir, store_dir):
    """Three answers, then the key is revoked mid-run: the run stops with a clear error, the rerun
    sends only the rest, and the server answers every request body exactly once."""
    grid = runner.Grid(methods=["icl"], shots=[4], seeds=[0], train=["movie"], test=["movie"], test_size=8,
                       data_dir=str(data_dir),
                       params={"icl": {"base_url": server.base_url, "model": "tiny_random_llama", "k": "1",
                                       "top_logprobs": "400", "concurrency": "2", "max_retries": "0"}})
    store = ResultStore(store_dir)
    server.inject({"kind": "ok", "count": 3}, {"kind": "401", "count": 1000})
    with pytest.raises(BenchError, match="rejected the API key"):
        runner.run(grid, store, progress=False)
    answered_first = len(server.stats.answered)
    assert answered_first >= 3 and len(ResponseCache()) == answered_first

    server.clear()  # the key works again; counters restart, the cache remembers
    summary = runner.run(grid, store, progress=False)
    (key,) = summary.computed
    record = json.loads(next(store_dir.rglob(f"{key}.json")).read_text())
    extra = record["method_extra"]
    assert extra["requests"] == 8 and extra["cache_hits"] == answered_first
    assert extra["requests_sent"] == 8 - answered_first == len(server.stats.answered)
    assert server.stats.as_dict()["max_answers_per_body"] == 1
    assert extra["usage"]["prompt_tokens"] > extra["usage_sent"]["prompt_tokens"] > 0
    assert record["status"] == "ok" and record["auc"] is not None
    assert "api_key" not in record["config"] and SECRET not in json.dumps(record)


def test_bench_serve_openai_subprocess_answers_the_method(tiny_random_llama, movie):
    """The user's path: `bench serve-openai` in its own process, requiring a key from the environment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SERVE_KEY": SECRET, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "bench.cli", "serve-openai", "--model", str(tiny_random_llama),
                                "--port", str(port), "--threads", "1", "--api-key-env", "SERVE_KEY"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        banner = ""
        while "serving" not in banner:
            line = process.stdout.readline()
            assert line, f"server exited early: {banner}"
            banner += line
        method = InContextChat(base_url=f"http://127.0.0.1:{port}/v1", model="tiny_random_llama", k=1,
                               top_logprobs=400, max_retries=0)
        method.fit(movie[0], [], context=None)
        assert len(method.score(movie[1][:2])) == 2
        assert method.extra_record()["score_source"] == "logprobs"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_score_response_reads_yes_and_no_candidates():
    def body(positions, content="x"):
        return {"choices": [{"message": {"content": content}, "logprobs": {"content": positions}}]}

    def position(token, logprob, top):
        return {"token": token, "logprob": logprob, "top_logprobs": [{"token": t, "logprob": v} for t, v in top]}

    import math
    both = body([position(" YES", math.log(0.6), [(" YES", math.log(0.6)), ("no.", math.log(0.2)),
                                                  ("Yes", math.log(0.1))])])
    assert score_response(both) == (pytest.approx(0.7 / 0.9), True)
    skip_space = body([position("\n", -0.1, [("\n", -0.1)]), position("No", -0.2, [("No", -0.2), ("x", -3.0)])])
    value, from_logprobs = score_response(skip_space)
    assert from_logprobs and value == pytest.approx(1 / (1 + math.exp(2.8)))
    assert score_response(body([position("Hmm", -0.1, [("Hmm", -0.1)])], "Yes, surely")) == (1.0, False)
    assert parsed_answer("  No.") == 0.0 and parsed_answer("") == 0.5 and parsed_answer(None) == 0.5


def test_prices_cover_snapshots_and_not_unknown_models():
    assert price_for("gpt-4o-mini-2024-07-18") == price_for("gpt-4o-mini") != price_for("gpt-4o")
    assert price_for("tiny_random_llama") is None


def test_cache_key_includes_endpoint_and_full_request():
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert request_key("http://a/v1", request) != request_key("http://b/v1", request)
    assert request_key("http://a/v1", request) != request_key("http://a/v1", {**request, "model": "n"})
    assert request_key("http://a/v1/", dict(reversed(request.items()))) == request_key("http://a/v1", request)
