"""The single-forward LM scorer against slow per-prompt references, on a tiny random Llama."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_random_llama import build_tiny_random_llama

from bench.data.domains import load_domain
from bench.data.prompts import alpaca_prompt
from bench.lm import models
from bench.lm.scorer import LMScorer, answer_token_ids, length_batches, scores_from_log_probs


@pytest.fixture(scope="module")
def movie(data_dir):
    return load_domain("movie", data_dir)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, movie):
    folder = build_tiny_random_llama(tmp_path_factory.mktemp("tiny_random_llama"), movie.train[:40])
    models.set_threads(2)
    return models.load(str(folder), "cpu")


@pytest.fixture(scope="module")
def prompts(movie):
    # Mixed lengths on purpose: 6 test prompts plus two shortened ones.
    texts = [alpaca_prompt(s) for s in movie.test[:6]]
    return texts + [texts[0][:200], texts[1][:120]]


def slow_log_probs(tiny, prompt):
    """One prompt at a time, no padding, full-vocabulary logits of the whole model."""
    import torch

    yes, no = answer_token_ids(tiny.tokenizer)
    with torch.no_grad():
        logits = tiny.model(**tiny.tokenizer(prompt, return_tensors="pt")).logits[0, -1]
    return torch.log_softmax(logits, -1)[[yes, no]].double().numpy()


def test_answer_tokens_come_from_the_tokenizer(tiny):
    yes, no = answer_token_ids(tiny.tokenizer)
    assert tiny.tokenizer.decode([yes]) == "Yes" and tiny.tokenizer.decode([no]) == "No"


def test_scorer_equals_slow_per_prompt_reference(tiny, prompts):
    fast = LMScorer(tiny.model, tiny.tokenizer, batch_size=4).log_probs(prompts)
    slow = np.stack([slow_log_probs(tiny, p) for p in prompts])
    np.testing.assert_allclose(fast, slow, atol=1e-5)


def test_reference_score_is_the_authors_double_softmax(tiny, prompts):
    import torch

    ours = LMScorer(tiny.model, tiny.tokenizer).scores(prompts, "reference")
    yes, no = answer_token_ids(tiny.tokenizer)
    for prompt, score in zip(prompts, ours, strict=True):
        with torch.no_grad():
            probs = tiny.model(**tiny.tokenizer(prompt, return_tensors="pt")).logits[0, -1].softmax(-1)
        authors = torch.tensor([probs[yes], probs[no]], dtype=torch.float32).softmax(-1)[0].item()
        assert score == pytest.approx(authors, abs=1e-6)


def test_first_generate_step_equals_single_forward(tiny, prompts):
    """The authors' way: generate(output_scores=True), first step's scores, one prompt at a time."""
    import torch

    yes, no = answer_token_ids(tiny.tokenizer)
    ours = LMScorer(tiny.model, tiny.tokenizer).log_probs(prompts[:3])
    for prompt, row in zip(prompts[:3], ours, strict=True):
        inputs = tiny.tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            out = tiny.model.generate(**inputs, max_new_tokens=2, do_sample=False, output_scores=True,
                                      return_dict_in_generate=True, pad_token_id=tiny.tokenizer.pad_token_id)
        first = torch.log_softmax(out.scores[0][0].float(), -1)[[yes, no]].double().numpy()
        np.testing.assert_allclose(row, first, atol=1e-5)


def test_scores_do_not_depend_on_batch_company(tiny, prompts):
    scorer = LMScorer(tiny.model, tiny.tokenizer, batch_size=1)
    alone = scorer.log_probs(prompts)
    for batch_size in (2, 3, 8):
        scorer.batch_size = batch_size
        np.testing.assert_allclose(scorer.log_probs(prompts), alone, atol=1e-5)
    reversed_order = LMScorer(tiny.model, tiny.tokenizer, batch_size=8).log_probs(prompts[::-1])
    np.testing.assert_allclose(reversed_order[::-1], alone, atol=1e-5)


def test_logodds_and_reference_rank_alike():
    log_probs = np.log(np.array([[0.30, 0.20], [0.10, 0.40], [0.25, 0.25], [0.05, 0.01]]))
    logodds = scores_from_log_probs(log_probs, "logodds")
    reference = scores_from_log_probs(log_probs, "reference")
    np.testing.assert_allclose(logodds, np.log([1.5, 0.25, 1.0, 5.0]))
    assert reference[2] == pytest.approx(0.5)
    assert list(np.argsort(reference)) == list(np.argsort([0.1, -0.3, 0.0, 0.04]))  # by P(Yes) - P(No)


def test_length_batches_cover_every_prompt_once_with_limits():
    lengths = [5, 50, 7, 49, 6, 51, 8]
    batches = length_batches(lengths, batch_size=3, max_batch_tokens=120)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 3 and max(lengths[i] for i in b) * len(b) <= 120 for b in batches)
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths)


def test_unknown_score_kind_is_a_bench_error(tiny, prompts):
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="logodds"):
        LMScorer(tiny.model, tiny.tokenizer).scores(prompts[:1], "probability")


def test_shared_prefix_gives_the_unshared_numbers_in_any_company(tiny, prompts):
    from bench.data.prompts import preamble

    shared = LMScorer(tiny.model, tiny.tokenizer, batch_size=3, shared_prefix=preamble("movie"))
    assert shared.shared_length(shared.tokenize(prompts)) > 20  # the Alpaca header and instruction
    together = shared.log_probs(prompts)
    np.testing.assert_allclose(together, LMScorer(tiny.model, tiny.tokenizer).log_probs(prompts), atol=1e-5)
    # The shared length comes from the preamble, not from the call: a prompt scored alone (which shares
    # every token with itself) gets the numbers it gets in the full call.
    # (prompts[:6] are whole prompts; the two shortened ones end inside the preamble.)
    whole = shared.log_probs(prompts[:6])
    assert shared.shared_length(shared.tokenize(prompts[:1])) == shared.shared_length(shared.tokenize(prompts[:6]))
    np.testing.assert_allclose(shared.log_probs(prompts[:1]), whole[:1], atol=1e-6)


def test_a_prefix_the_prompts_do_not_start_with_is_not_shared(tiny, prompts):
    scorer = LMScorer(tiny.model, tiny.tokenizer, shared_prefix="Something else entirely. " * 4)
    assert scorer.shared_length(scorer.tokenize(prompts)) == 0
