"""The caches composed around what they cache. The LM scorer's: a prompt scored once in a process is
answered from the cache, for any method that asks (zero-shot, and stack's LM feature), with the very same
log-probs. The chat endpoint's (icl; end to end against a real server in test_icl.py): nothing cached is
sent again, nothing answered is lost when a later request fails, no connection when all is cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.data.domains import load_domain
from bench.lm import caching
from bench.lm.caching import CachingChat, CachingScorer
from bench.lm.models import load
from bench.run import registry


def test_a_prompt_is_scored_once_per_process_and_model(data_dir: Path):
    caching._SEEN.clear()  # other tests of this process may have scored these prompts
    test = load_domain("movie", data_dir).test[:6]
    loaded = load("tiny-random-llama", "cpu")
    first = CachingScorer(loaded, batch_size=4)
    values = first.log_probs(test[:4])
    again = CachingScorer(loaded, batch_size=2)
    both = again.log_probs(test)  # 4 seen, 2 new
    assert (again.scored, again.reused) == (2, 4)
    np.testing.assert_array_equal(both[:4], values)
    method = registry.build("zero-shot", {"model": "tiny-random-llama", "score": "logodds"})
    method.fit([], [], registry.FitContext(0, "movie", ["movie"], [], Path("unused"), "cpu"))
    method.score(test)
    assert method.extra_record()["reused_scores"] == 6 and method.extra_record()["scored_prompts"] == 0
    np.testing.assert_array_equal(np.asarray([method.sample_values()["log_p_yes"]]).T[:, 0], both[:, 0])


def test_the_chat_cache_sends_only_what_it_lacks_and_keeps_answers_across_a_failure(tmp_path: Path):
    requests = [{"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(5)]
    sent: list[str] = []

    def connect():
        def send(request):
            question = request["messages"][0]["content"]
            sent.append(question)
            if question == "q3":
                raise RuntimeError("server gone")
            return {"answer": question.upper()}
        return send

    chat = CachingChat("http://127.0.0.1:1/v1", connect, concurrency=1, cache_path=tmp_path / "c.sqlite")
    with pytest.raises(RuntimeError, match="server gone"):
        chat.answers(requests)
    answered = [q for q in sent if q != "q3"]  # q4 may have gone out before the failure was seen
    assert sent[:4] == ["q0", "q1", "q2", "q3"]
    chat_ok = CachingChat("http://127.0.0.1:1/v1", lambda: lambda r: {"answer": "late"}, cache_path=tmp_path / "c.sqlite")
    bodies, was_sent = chat_ok.answers(requests)
    assert [q for q, s in zip([f"q{i}" for i in range(5)], was_sent, strict=True) if not s] == answered
    assert [b["answer"] for b in bodies] == [q.upper() if q in answered else "late" for q in [f"q{i}" for i in range(5)]]

    def no_connection():
        raise AssertionError("connect() called though every answer is cached")

    bodies, was_sent = CachingChat("http://127.0.0.1:1/v1", no_connection, cache_path=tmp_path / "c.sqlite").answers(requests)
    assert not any(was_sent) and bodies[3]["answer"] == "late"


def test_the_chat_cache_keeps_request_order_under_concurrency_and_sends_a_repeated_request_once(tmp_path: Path):
    import threading
    import time

    questions = ["a", "b", "c", "a", "d"]
    requests = [{"model": "m", "messages": [{"role": "user", "content": q}]} for q in questions]
    sent: list[str] = []
    lock = threading.Lock()

    def send(request):
        question = request["messages"][0]["content"]
        time.sleep({"a": 0.3, "b": 0.2, "c": 0.1}.get(question, 0.0))  # earlier requests finish later
        with lock:
            sent.append(question)
        return {"answer": question.upper()}

    bodies, was_sent = CachingChat("http://127.0.0.1:1/v1", lambda: send, concurrency=3,
                                   cache_path=tmp_path / "c.sqlite").answers(requests)
    assert [b["answer"] for b in bodies] == ["A", "B", "C", "A", "D"]
    assert sorted(sent) == ["a", "b", "c", "d"] and sent[0] != "a"  # "a" went out once, and finished late
    assert was_sent == [True, True, True, False, True]
