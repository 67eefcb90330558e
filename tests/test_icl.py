"""The `icl` method against a real OpenAI-compatible HTTP server on 127.0.0.1 (bench.lm.openai_server),
backed by a tiny randomly initialised Llama: real logprobs, real HTTP, injected failures (through the
test-only subclass in tests/fault_server.py), errors that name their fix, and a run interrupted midway
that resumes without sending any request twice (counted by the server). The shipped server itself is
checked to have no control endpoints and to ask for the key first."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_server import FaultyChatServer, context_error

from bench.data.domains import load_domain
from bench.data.splits import few_shot
from bench.errors import BenchError
from bench.lm import tiny_random_llama as tiny_random_llama_model
from bench.lm.openai_server import ChatServer, HFChatBackend
from bench.lm.response_cache import ResponseCache, request_key
from bench.run import runner
from bench.run.store import ResultStore
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
    server = FaultyChatServer(backend).start()
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


def make(server: FaultyChatServer, **overrides) -> InContextChat:
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


def test_too_many_failures_raise_a_bench_error_that_says_a_rerun_resumes(server, movie):
    server.inject({"kind": "500", "count": 2})
    with pytest.raises(BenchError, match="HTTP 500") as caught:
        fitted(make(server, max_retries=1), movie).score(movie[1][:1])
    assert "Injected server error." in str(caught.value) and "a rerun resumes" in str(caught.value)
    assert server.stats.outcomes["500"] == 2


def test_a_plain_400_is_not_taken_for_a_context_error_nor_said_to_resume(server, movie):
    server.inject({"kind": "400"})
    with pytest.raises(BenchError, match="HTTP 400") as caught:
        fitted(make(server), movie).score(movie[1][:1])
    message = str(caught.value)
    assert "Invalid value for 'top_logprobs': injected." in message and "fails the same way" in message
    assert "context" not in message and "resume" not in message
    assert server.stats.chat_requests == 1  # a 400 is not retried


@pytest.mark.parametrize("style", ["openai", "llamacpp", "llamacpp-old"])
def test_context_length_400_names_the_lengths_and_the_fixes(server, backend, movie, style):
    """A server whose context holds 2 of the 4 examples: the error names the prompt's length, the
    server's limit when it said one, and the fixes; it fails the same way again; the suggested k runs."""
    shots, test = movie
    method = fitted(make(server, k=4), movie)
    messages = method.request_for(test[0])["messages"]
    tokens = len(backend.prompt_ids(messages))
    server.context_limit = len(backend.prompt_ids(messages_for(test[0], shots[:2]))) + method.max_tokens
    server.context_style = style
    with pytest.raises(BenchError) as caught:
        method.score(test[:1])
    message = str(caught.value)
    assert "\n" not in message and "HTTP 400" in message and "longer than its context" in message
    assert "Lower icl.k (now 4" in message and "--ctx-size/-c" in message
    assert "a rerun fails the same way" in message and "resume" not in message
    said = context_error(style, tokens, server.context_limit)["message"]
    assert message.endswith(f"The server said: {said}")  # whole, not cut
    assert server.stats.outcomes["context"] == 1 and len(ResponseCache()) == 0
    with pytest.raises(BenchError, match="longer than its context"):
        fitted(make(server, k=4), movie).score(test[:1])
    assert server.stats.outcomes["context"] == 2  # the rerun sent it again and failed the same way
    if style == "llamacpp-old":  # no numbers from the server: the examples and characters instead
        chars = sum(len(m["content"]) for m in messages)
        assert f"the prompt is {chars} characters (4 in-context examples)" in message
        assert "the server did not say its context size" in message and "--param icl.k=" not in message
    else:
        assert f"the prompt is {tokens} tokens (4 in-context examples" in message
        assert f"the server's context is {server.context_limit} tokens" in message
        suggested = int(re.search(r"--param icl\.k=(\d+)", message).group(1))
        assert 1 <= suggested < 4  # some examples kept (k=0 would fit trivially), fewer than now
        assert len(fitted(make(server, k=suggested), movie).score(test[:1])) == 1  # the advice works
        assert server.stats.outcomes["ok"] == 1


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
    server = FaultyChatServer(backend, api_key="the-right-key").start()
    try:
        with pytest.raises(BenchError, match="401") as caught:
            fitted(make(server), movie).score(movie[1][:2])
        assert SECRET not in str(caught.value)
        assert server.stats.outcomes["401"] >= 1 and not server.stats.answered
    finally:
        server.stop()


def http_call(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
              key: str | None = None) -> tuple[int, dict]:
    """One request on a kept-alive connection: (status, JSON body)."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def chat_body(movie) -> bytes:
    return json.dumps({"model": "m", "messages": messages_for(movie[1][0], []), "max_tokens": 1,
                       "logprobs": True, "top_logprobs": 2}).encode()


def test_shipped_server_has_no_control_endpoints(backend, movie):
    """Faults queued through the old control path must not exist: 404, and the next chat is answered."""
    server = ChatServer(backend).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        assert http_call(connection, "GET", "/_control/stats")[0] == 404
        faults = json.dumps([{"kind": "500", "count": 5}]).encode()
        assert http_call(connection, "POST", "/_control/faults", faults)[0] == 404
        status, body = http_call(connection, "POST", "/v1/chat/completions", chat_body(movie))
        assert status == 200 and body["choices"][0]["logprobs"]["content"]
        assert http_call(connection, "GET", "/v1/models")[0] == 200
    finally:
        connection.close()
        server.stop()


def test_shipped_server_asks_for_the_key_before_anything_else(backend, movie):
    """Without the key every path is 401 (even a malformed chat body, and paths that do not exist);
    with it, the control paths are 404. One kept-alive connection: a refused body is read, not left."""
    server = ChatServer(backend, api_key="the-right-key").start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        for key in (None, "a-wrong-key"):
            for method, path, body in [("GET", "/_control/stats", None), ("POST", "/_control/faults", b"[]"),
                                       ("POST", "/v1/chat/completions", b"not json"),
                                       ("POST", "/v1/chat/completions", chat_body(movie)),
                                       ("GET", "/v1/models", None), ("GET", "/no/such/path", None)]:
                status, answer = http_call(connection, method, path, body, key=key)
                assert (status, answer["error"]["type"]) == (401, "invalid_api_key"), (key, method, path)
                assert "_control" not in json.dumps(answer) and "no route" not in json.dumps(answer)
        assert http_call(connection, "GET", "/_control/stats", key="the-right-key")[0] == 404
        assert http_call(connection, "POST", "/_control/faults", b"[]", key="the-right-key")[0] == 404
        assert http_call(connection, "POST", "/v1/chat/completions", b"not json", key="the-right-key")[0] == 400
        status, _ = http_call(connection, "POST", "/v1/chat/completions", chat_body(movie), key="the-right-key")
        assert status == 200
    finally:
        connection.close()
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
    """The user's path: `bench serve-openai` in its own process, requiring a key from the environment
    (asked for before any route, and no control endpoint behind it)."""
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
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            assert http_call(connection, "GET", "/_control/stats")[0] == 401  # the key before the route
            assert http_call(connection, "GET", "/_control/stats", key=SECRET)[0] == 404
        finally:
            connection.close()
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
