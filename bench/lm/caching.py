"""A cache composed around the LM scorer, as lm-evaluation-harness's `CachingLM` wraps an LM: the
method asks for log-probs, the wrapper answers what it has seen and scores only the rest.

Why in-process only: an untuned model's log P(Yes), log P(No) for a prompt do not depend on K, seed
or batch company (the scorer is batch-invariant), so every cell of one run that scores the same
prompts with the same model on the same device shares them (zero-shot across K and seeds, the
`stack` hybrid's LM feature beside a zero-shot cell). Nothing is kept across processes, so
`bench check` and a rerun always compute afresh.
"""

from __future__ import annotations

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
