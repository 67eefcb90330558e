"""A tiny randomly initialised Llama and an offline BPE tokenizer, for fast LM tests.

Untrained on purpose: tests check the machinery (scores, training, saving, resuming), not quality.
The tokenizer is a byte-level BPE trained on a few prompts, with "Yes" and "No" as single tokens.
"""

from __future__ import annotations

from pathlib import Path

from bench.prompts import ALPACA_TEMPLATE, alpaca_prompt
from bench.samples import Sample


def build_tiny_random_llama(folder: Path, samples: list[Sample], seed: int = 0) -> Path:
    """Write a tokenizer and a 2-layer random Llama into `folder` (save_pretrained layout); return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [alpaca_prompt(s) + ("Yes." if s.label else "No.") for s in samples] + [ALPACA_TEMPLATE]
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bpe.add_tokens(["Yes", "No"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", eos_token="<eos>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
