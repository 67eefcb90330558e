"""The tiny untrained Llama of bench/lm/tiny_random_llama.py, with its tokenizer trained on the given
samples' prompts (so tests tokenize them compactly)."""

from __future__ import annotations

from pathlib import Path

from bench.data.prompts import ALPACA_TEMPLATE, alpaca_prompt
from bench.data.samples import Sample
from bench.lm import tiny_random_llama


def build_tiny_random_llama(folder: Path, samples: list[Sample], seed: int = 0) -> Path:
    """Write a tokenizer and a 2-layer random Llama into `folder` (save_pretrained layout); return it."""
    texts = [alpaca_prompt(s) + ("Yes." if s.label else "No.") for s in samples] + [ALPACA_TEMPLATE]
    return tiny_random_llama.build(folder, texts, seed)
