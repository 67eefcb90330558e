"""The cache composed around the LM scorer: a prompt scored once in a process is answered from the cache,
for any method that asks (zero-shot, and stack's LM feature), with the very same log-probs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data.domains import load_domain
from bench.lm import caching
from bench.lm.caching import CachingScorer
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
