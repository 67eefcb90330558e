"""Caches composed around what they cache, as lm-evaluation-harness's `CachingLM` wraps an LM: the
method asks its question, the wrapper answers what it has seen and passes on only the rest.

`CachingScorer` wraps a local model's scorer (log P(Yes), log P(No) per prompt), in-process.
`CachingChat` wraps a chat endpoint (`icl`): answers persist in `bench.lm.response_cache`, so a rerun
or a resumed run sends nothing already answered, and the method's sender knows nothing of the cache.

Why the scorer's cache is in-process only: an untuned model's log P(Yes), log P(No) for a prompt do
not depend on K, seed or batch company (the scorer is batch-invariant), so every cell of one run that
scores the same prompts with the same model on the same device shares them (zero-shot across K and
seeds, the `stack` hybrid's LM feature beside a zero-shot cell). Nothing is kept across processes, so
`bench check` and a rerun always compute afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.samples import Sample

_SEEN: dict[tuple[str, str], dict[str, np.ndarray]] = {}  # (model location, device) -> prompt -> log-probs


class CachingScorer:
    """`log_probs(samples)` of one loaded model, through the process-wide cache of its prompts."""

    def __init__(self, loaded: Any, batch_size: int) -> None:
        self.loaded, self.batch_size = loaded, batch_size
        self.scored = self.reused = 0

    def log_probs(self, samples: list[Sample]) -> np.ndarray:
        """(n, 2) log P(Yes), log P(No), in the order given."""
        from bench.lm.scorer import alpaca_prompts, sample_log_probs

        cache = _SEEN.setdefault((self.loaded.location, str(self.loaded.device)), {})
        texts = alpaca_prompts(samples)
        missing = [(t, s) for t, s in dict(zip(texts, samples, strict=True)).items() if t not in cache]
        if missing:
            fresh = sample_log_probs(self.loaded.model, self.loaded.tokenizer, [s for _, s in missing],
                                     self.batch_size)
            cache.update(zip([t for t, _ in missing], fresh, strict=True))
        self.scored, self.reused = len(missing), len(samples) - len(missing)
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 2))


Send = Callable[[dict[str, Any]], dict[str, Any]]


class CachingChat:
    """Chat requests to one endpoint through the persistent response cache.

    `connect()` is called only when some request is not cached (so a fully cached rerun needs no API
    key), and returns the function that sends one request and returns its answer (retries are its
    business). Each distinct missing request goes out once (a repeated request reuses its answer),
    `concurrency` at a time; each answer is cached the moment it arrives, and on an error the queued
    requests are cancelled while those in flight finish and are cached, so nothing answered is lost."""

    def __init__(self, endpoint: str, connect: Callable[[], Send], concurrency: int = 1,
                 cache_path: Path | None = None) -> None:
        self.endpoint, self.connect, self.concurrency, self.cache_path = endpoint, connect, concurrency, cache_path

    def answers(self, requests: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[bool]]:
        """The answer to each request, in order, and whether it was sent now (False: from the cache, or
        an earlier identical request of this call)."""
        from bench.lm.response_cache import ResponseCache, request_key

        keys = [request_key(self.endpoint, r) for r in requests]
        cache = ResponseCache(self.cache_path)
        try:
            answered: dict[str, dict[str, Any]] = {}
            for key, request in zip(keys, requests, strict=True):
                if key not in answered and (body := cache.get(self.endpoint, request)) is not None:
                    answered[key] = body
            first = {}  # key -> index of its first request, for the keys not cached
            for i, key in enumerate(keys):
                if key not in answered:
                    first.setdefault(key, i)
            if first:
                send = self.connect()

                def fetch(request: dict[str, Any]) -> dict[str, Any]:
                    body = send(request)
                    cache.put(self.endpoint, request, body)
                    return body

                with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                    futures = {pool.submit(fetch, requests[i]): key for key, i in first.items()}
                    try:
                        for future in as_completed(futures):
                            answered[futures[future]] = future.result()
                    except BaseException:
                        for future in futures:
                            future.cancel()
                        raise
        finally:
            cache.close()
        sent = set(first.values())
        return [answered[key] for key in keys], [i in sent for i in range(len(requests))]
