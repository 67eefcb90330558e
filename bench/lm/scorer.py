"""Score prompts with a causal LM in one forward pass (docs/design.md).

The authors call `generate(max_new_tokens=128, output_scores=True)` one prompt at a time and keep
only the first step's scores: the next-token distribution after the prompt. One forward pass gives
the same numbers. Prompts are sorted by length and batched (little padding), padded on the right,
and each prompt's hidden state is gathered at its own last real token, so real tokens never see
padding and a score does not depend on which prompts share its batch. The vocabulary projection
runs only on those gathered states, not on every position.

Shared prefix: every prompt starts with the same preamble (the Alpaca header and the instruction, 77 of
~227 tokens for movie with SmolLM2). Given that text (`shared_prefix`), its key/value cache is computed
once per call and reused by every batch, so each batch runs only the prompts' own tokens: 1.5x faster on
the 2-core CPU (64 movie prompts: 2.8 vs 1.8 prompts/s, alternating runs on a quiet machine). The shared
length depends only on that text and the tokenizer, never on which prompts share a call, so a prompt's
score stays the same in any company; it differs from the unshared computation by float rounding only
(~1e-5 in log-probabilities, tests/test_lm_scorer.py).

Two scores from the same logits:
- `reference`: the authors' softmax over the vocabulary, then a softmax over [P(Yes), P(No)], keeping
  the Yes half (ranks like P(Yes) - P(No)); reproduces their numbers.
- `logodds`: log P(Yes) - log P(No).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.data.samples import Sample
from bench.errors import BenchError

SCORES = ("reference", "logodds")
ANSWER_WORDS = ("Yes", "No")


def answer_token_ids(tokenizer: Any) -> tuple[int, int]:
    """Ids of the first tokens of "Yes" and "No" as they follow the prompt's final newline.

    Looked up from the tokenizer, never hard-coded (the authors' 8241 / 3782 are LLaMA-1's ids).
    """
    ids = []
    for word in ANSWER_WORDS:
        pieces = tokenizer.encode(word, add_special_tokens=False)
        if not pieces:
            raise BenchError(f"the tokenizer turns {word!r} into no tokens; use another model")
        ids.append(pieces[0])
    if ids[0] == ids[1]:
        raise BenchError("the tokenizer gives 'Yes' and 'No' the same first token; use another model")
    return ids[0], ids[1]


def check_score_kind(kind: str, parameter: str = "score") -> str:
    """`kind` if it is a score kind, else a one-line error naming the parameter and the choices."""
    if kind not in SCORES:
        raise BenchError(f"{parameter} must be one of {', '.join(SCORES)}, got {kind!r}")
    return kind


def scores_from_log_probs(log_probs: np.ndarray, kind: str) -> np.ndarray:
    """log_probs: (n, 2) log-softmax values over the vocabulary for [Yes, No]."""
    check_score_kind(kind)
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if kind == "logodds":
        return log_probs[:, 0] - log_probs[:, 1]
    probs = np.exp(log_probs)  # reference
    return 1.0 / (1.0 + np.exp(probs[:, 1] - probs[:, 0]))  # softmax([pY, pN])[0]


PROGRESS_FROM = 100  # prompts; a progress bar (on a terminal) for calls at least this long
MIN_SHARED_PREFIX = 8  # tokens; below this, computing the prefix once is not worth a cache copy


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def cache_keyword(decoder: Any) -> str:
    """transformers 5 renamed `past_key_values` to `cache`, as argument and output field (the old name
    warns, and goes in 5.40)."""
    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


def unwrapped(model: Any) -> Any:
    """The causal LM itself, under a peft wrapper if there is one."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def pad_token_id(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its end-of-sequence id, else 0 (padding never reaches a score or a loss)."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return candidate
    return 0


def _decoder_and_head(model: Any) -> tuple[Any, Any]:
    """The transformer body and the vocabulary projection (through a peft wrapper if there is one)."""
    base = unwrapped(model)
    return base.get_decoder(), base.get_output_embeddings()


def length_batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int | None = None) -> list[list[int]]:
    """Indices grouped into batches of similar length (sorted, stable), at most `batch_size` prompts and,
    when given, at most `max_batch_tokens` padded tokens each."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = max([lengths[j] for j in current] + [lengths[i]])
        too_many_tokens = max_batch_tokens is not None and current and longest * (len(current) + 1) > max_batch_tokens
        if current and (len(current) >= batch_size or too_many_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class LMScorer:
    """Next-token log P(Yes) and log P(No) after each prompt, batched by length.

    `model` may be a plain causal LM or a peft model; it is used in eval mode under no_grad.
    """

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 16,
                 max_batch_tokens: int | None = 8192, shared_prefix: str | Sequence[int] | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.shared_prefix = shared_prefix
        self.yes_id, self.no_id = answer_token_ids(tokenizer)
        self.pad_id = pad_token_id(tokenizer)

    def tokenize(self, prompts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(p)["input_ids"] for p in prompts]

    def shared_length(self, encoded: Sequence[Sequence[int]]) -> int:
        """Tokens of `shared_prefix` (text, or token ids) that every prompt starts with, leaving each prompt
        one token of its own; 0 when there is no prefix or it is too short to be worth a cache copy."""
        if not self.shared_prefix or not encoded:
            return 0
        prefix = (self.tokenizer(self.shared_prefix)["input_ids"] if isinstance(self.shared_prefix, str)
                  else list(self.shared_prefix))
        shared = min(min(common_prefix_length(prefix, e), len(e) - 1) for e in encoded)
        return shared if shared >= MIN_SHARED_PREFIX else 0

    def log_probs(self, prompts: Sequence[str]) -> np.ndarray:
        """(n, 2) float64 array: log-softmax over the vocabulary at each prompt's end, for [Yes, No]."""
        return self.log_probs_of_ids(self.tokenize(prompts))

    def log_probs_of_ids(self, encoded: Sequence[Sequence[int]]) -> np.ndarray:
        """As `log_probs`, for prompts already tokenized."""
        import torch

        if any(len(ids) == 0 for ids in encoded):
            raise BenchError("an empty prompt cannot be scored")
        out = np.zeros((len(encoded), 2), dtype=np.float64)
        shared = self.shared_length(encoded)
        decoder, head = _decoder_and_head(self.model)
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                prefix_cache = None
                if shared:
                    prefix_ids = torch.tensor([encoded[0][:shared]], device=device)
                    keyword = cache_keyword(decoder)
                    prefix_cache = getattr(decoder(input_ids=prefix_ids, use_cache=True), keyword)
                rests = [e[shared:] for e in encoded]
                bar = tqdm(total=len(rests), desc="scoring", unit="prompt", leave=False,
                           disable=None if len(rests) >= PROGRESS_FROM else True)
                for batch in length_batches([len(r) for r in rests], self.batch_size, self.max_batch_tokens):
                    width = max(len(rests[i]) for i in batch)
                    ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
                    mask = torch.zeros((len(batch), width), dtype=torch.long)
                    for row, i in enumerate(batch):
                        ids[row, : len(rests[i])] = torch.tensor(rests[i])
                        mask[row, : len(rests[i])] = 1
                    ids, mask = ids.to(device), mask.to(device)
                    last = mask.sum(dim=1) - 1
                    if prefix_cache is None:
                        hidden = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
                    else:
                        cache = copy.deepcopy(prefix_cache)
                        cache.batch_repeat_interleave(len(batch))
                        full_mask = torch.cat([torch.ones((len(batch), shared), dtype=mask.dtype, device=device), mask], 1)
                        hidden = decoder(input_ids=ids, attention_mask=full_mask, use_cache=True,
                                         **{keyword: cache}).last_hidden_state
                    final = hidden[torch.arange(len(batch), device=device), last]
                    logits = head(final).float()
                    log_probs = torch.log_softmax(logits, dim=-1)[:, [self.yes_id, self.no_id]]
                    out[batch] = log_probs.double().cpu().numpy()
                    bar.update(len(batch))
                bar.close()
        finally:
            self.model.train(was_training)
        return out

    def scores(self, prompts: Sequence[str], kind: str = "reference") -> list[float]:
        check_score_kind(kind)
        if not prompts:
            return []
        return scores_from_log_probs(self.log_probs(prompts), kind).tolist()


def alpaca_prompts(samples: list[Sample]) -> list[str]:
    """The authors' Alpaca prompt of each sample, as the LM methods score and tune them."""
    from bench.data.prompts import alpaca_prompt

    return [alpaca_prompt(s) for s in samples]


def sample_log_probs(model: Any, tokenizer: Any, samples: list[Sample], batch_size: int) -> np.ndarray:
    """(n, 2) log P(Yes), log P(No) per sample; the prompts about one item noun are one scorer call,
    sharing that noun's preamble."""
    from bench.data.prompts import preamble

    out = np.zeros((len(samples), 2))
    for noun in sorted({s.noun for s in samples}):
        rows = [i for i, s in enumerate(samples) if s.noun == noun]
        scorer = LMScorer(model, tokenizer, batch_size=batch_size, shared_prefix=preamble(noun))
        out[rows] = scorer.log_probs(alpaca_prompts([samples[i] for i in rows]))
    return out


def sample_scores(model: Any, tokenizer: Any, samples: list[Sample], kind: str, batch_size: int) -> list[float]:
    """Scores of `kind` per sample, from `sample_log_probs`."""
    return scores_from_log_probs(sample_log_probs(model, tokenizer, samples, batch_size), kind).tolist()
