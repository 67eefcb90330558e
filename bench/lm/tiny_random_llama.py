"""`tiny-random-llama`: an UNTRAINED 2-layer Llama with a small byte-level BPE tokenizer.

Random weights on purpose (seeded, so every build is the same model): it exercises the LM machinery
(scoring, training, saving, resuming) in tests and in the `bench check` suite in seconds, and says
nothing about quality. "Yes" and "No" are single tokens, as the scorer needs; any text tokenizes
(byte-level fallback).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.data.prompts import ALPACA_TEMPLATE, instruction

NAME = "tiny-random-llama"
#: A plain chat format ending each turn with the tokenizer's eos, so `bench serve-openai` can serve it.
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<eos>\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


def default_texts() -> list[str]:
    """The fixed corpus the tokenizer of the named model is trained on: the prompt scaffolding."""
    texts = [ALPACA_TEMPLATE]
    for domain in ("movie", "book"):
        texts.append(instruction(domain))
        texts.append(f'User Preference: "A (1995)", "B"\nUser Unpreference: \nWhether the user will like the '
                     f'target {domain} "C" written by D?')
    return texts + ["Yes.", "No."]


def build(folder: Path, texts: Sequence[str], seed: int = 0) -> Path:
    """Train the tokenizer on `texts`, initialise the model from `seed`, save both into `folder`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(list(texts), trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.add_tokens(["Yes", "No"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<eos>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def ensure(target: Path) -> Path:
    """The named model in `target`, built once (in a temporary folder, then renamed into place)."""
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = build(Path(tmp) / "model", default_texts())
        if not (target / "config.json").is_file():
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staged, target)
    return target
