"""GPU figures at LLaMA-7B shape with random weights (speed does not depend on weight values).

Measures, in one run on one device, the code the LM methods use:
- scoring: `bench.lm.scorer.LMScorer` (one forward, length buckets, the shared preamble run once)
  against the authors' way (`generate(max_new_tokens=128)` keeping the first step's scores, batch 32,
  left padding, file order), in prompts/s. Random weights never pick EOS, so the reference runs all
  128 steps (its worst case; a trained model stops once every prompt in its batch has ended);
- LoRA tuning: `bench.lm.tuning.tune_lora` (q/v, r=8, micro-batch 32, loss on all tokens), in real
  (unpadded) tokens/s, with the peak GPU memory; as the authors compute it, then with `share_prefix`
  (the preamble run once per micro-batch), `max_forward_tokens` (each micro-batch as length-sorted
  chunks: less padding, lower peak) and both; with `--compile`, also plain and `share_prefix` with the
  decoder under torch.compile. Each way is timed after a warm-up step (the timed run's first step:
  allocator blocks reserved, shapes compiled), so the figure is close to the steady state.

Prompts are synthetic token ids shaped like the movie prompts: one shared preamble and a per-prompt
rest, lengths drawn from a fixed range (the LLaMA tokenizer is not needed for timing).

    python benchmarks/bench_llama7b_shape.py --json $OUT/llama7b.json            # on a GPU (bf16)
    python benchmarks/bench_llama7b_shape.py --shape tiny --device cpu --prompts 64  # a quick try anywhere
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPES = {
    "7b": dict(hidden_size=4096, num_hidden_layers=32, intermediate_size=11008, num_attention_heads=32,
               num_key_value_heads=32, vocab_size=32000),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
                 num_key_value_heads=4, vocab_size=32000),
}
YES, NO, PAD, EOS = 3869, 1939, 0, 2  # any distinct ids below the vocabulary size


class IdsOnlyTokenizer:
    """What the scorer and the tuner ask of a tokenizer when prompts arrive as ids."""

    pad_token_id = PAD
    eos_token_id = EOS

    def encode(self, word: str, add_special_tokens: bool = False) -> list[int]:
        return [{"Yes": YES, "No": NO}[word]]


def synthetic_prompts(n: int, vocab: int, preamble: int, rest: tuple[int, int], seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    shared = rng.integers(10, vocab, preamble).tolist()
    return [shared + rng.integers(10, vocab, int(rng.integers(*rest))).tolist() for _ in range(n)]


def random_model(shape: str, device: str, dtype):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(**SHAPES[shape], max_position_embeddings=4096, pad_token_id=PAD, eos_token_id=EOS,
                         bos_token_id=1)
    torch.manual_seed(0)
    with torch.device(device):  # initialised where it runs: a 7B model never passes through host memory
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = None  # random weights: run every step, as the authors' max
    return model.eval()


def synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def time_scorer(model, prompts, batch_size: int, preamble: list[int], device: str) -> float:
    from bench.lm.scorer import LMScorer

    scorer = LMScorer(model, IdsOnlyTokenizer(), batch_size=batch_size, max_batch_tokens=None, shared_prefix=preamble)
    scorer.log_probs_of_ids(prompts[: batch_size])  # warm-up
    synchronize(device)
    started = time.perf_counter()
    scorer.log_probs_of_ids(prompts)
    synchronize(device)
    return len(prompts) / (time.perf_counter() - started)


def time_reference(model, prompts, batch_size: int, max_new_tokens: int, device: str) -> float:
    import torch

    def run(batch_prompts):
        width = max(len(p) for p in batch_prompts)
        ids = torch.full((len(batch_prompts), width), PAD, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, p in enumerate(batch_prompts):  # left padding
            ids[row, width - len(p):] = torch.tensor(p)
            mask[row, width - len(p):] = 1
        with torch.no_grad():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, output_scores=True, return_dict_in_generate=True,
                                 pad_token_id=PAD)
        return out.scores[0].float().softmax(-1)[:, [YES, NO]]

    run(prompts[:batch_size])  # warm-up
    synchronize(device)
    started = time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        run(prompts[start : start + batch_size])
    synchronize(device)
    return len(prompts) / (time.perf_counter() - started)


def time_tuning(model, prompts, micro_batch: int, steps: int, device: str, name: str = "tuning",
                compiled: bool = False, **options) -> dict:
    """`options`: TuningSettings fields that change how a step is computed (share_prefix, max_forward_tokens);
    `compiled`: the decoder under torch.compile (fused elementwise kernels), for this way only."""
    import torch

    from bench.lm.tuning import TuningSettings, tune_lora

    examples = [{"input_ids": p + [YES, EOS], "labels": p + [YES, EOS]} for p in prompts]
    settings = TuningSettings(learning_rate=1e-4, lora_r=8, lora_alpha=16, lora_dropout=0.05,
                              target_modules="q_proj,v_proj", batch_size=len(examples), micro_batch_size=micro_batch,
                              epochs=steps, eval_steps=10**9, patience=10, cutoff_len=512, warmup_steps=0,
                              valid_size=0, train_on_inputs=True, **options)
    tokens = sum(len(e["input_ids"]) for e in examples) * steps
    if device == "cuda":  # each way starts from an empty cache: no fragmentation left by the one before
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    decoder = model.get_decoder()
    if compiled:  # traced at the first call, with the LoRA layers tune_lora has put in by then
        decoder.forward = torch.compile(decoder.forward, dynamic=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # Warm-up: one whole step (the timed run's first), so the timed run finds the allocator's blocks
            # reserved and its shapes mostly compiled already (compile time is reported apart).
            warm = TuningSettings(**{**settings.__dict__, "epochs": 1})
            warm_result = tune_lora(model, IdsOnlyTokenizer(), examples, None, warm, seed=0, out_dir=Path(tmp) / "warm")
            if device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            result = tune_lora(model, IdsOnlyTokenizer(), examples, None, settings, seed=0, out_dir=Path(tmp) / "run")
    finally:
        if compiled:
            del decoder.forward  # back to the class's eager forward for the ways that follow
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    return {f"{name}_tokens_per_s": round(tokens / result.train_seconds, 1), f"{name}_seconds": round(result.train_seconds, 2),
            f"{name}_real_tokens": tokens, f"{name}_peak_gib": round(peak, 2) if peak else None,
            f"{name}_warmup_seconds": round(warm_result.train_seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--prompts", type=int, default=256, help="prompts to score (and, up to 128, to tune on)")
    parser.add_argument("--preamble", type=int, default=80, help="tokens every prompt starts with")
    parser.add_argument("--rest", type=int, nargs=2, default=(150, 230), help="range of each prompt's own tokens")
    parser.add_argument("--score-batch", type=int, default=64)
    parser.add_argument("--reference-batch", type=int, default=32)
    parser.add_argument("--reference-prompts", type=int, default=64,
                        help="the reference is slow: time this many (0: skip it)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--micro-batch", type=int, default=32)
    parser.add_argument("--tuning-steps", type=int, default=2, help="optimizer steps over up to 128 prompts")
    parser.add_argument("--chunk-tokens", type=int, nargs="+", default=[4096, 2048],
                        help="max_forward_tokens values for the chunked runs")
    parser.add_argument("--repeats", type=int, default=1,
                        help="time each tuning way this many times, alternating the order; report the median")
    parser.add_argument("--compile", action="store_true",
                        help="also time the plain and share_prefix ways with the decoder under torch.compile")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch
    import transformers

    from bench.lm.models import precision_for

    dtype = getattr(torch, precision_for(args.device))  # what the LM methods load in on that device
    model = random_model(args.shape, args.device, dtype)
    prompts = synthetic_prompts(args.prompts, SHAPES[args.shape]["vocab_size"], args.preamble, tuple(args.rest))
    figures = {"shape": args.shape, "device": args.device, "dtype": str(dtype),
               "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
               "torch": torch.__version__, "transformers": transformers.__version__,
               "attention": model.config._attn_implementation, "prompts": len(prompts),
               "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
               "mean_prompt_tokens": float(np.mean([len(p) for p in prompts])), "preamble_tokens": args.preamble}

    def measure(name: str, compute) -> None:
        """One figure at a time, each written out at once: a failure or a time limit keeps the others."""
        try:
            figures.update(compute())
        except Exception as exc:  # noqa: BLE001 - a device run must report what it could measure
            figures[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:500]
        print(figures, flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1))

    measure("scoring", lambda: {"scoring_prompts_per_s": round(
        time_scorer(model, prompts, args.score_batch, prompts[0][: args.preamble], args.device), 2)})
    if args.reference_prompts:
        measure("reference", lambda: {"reference_prompts_per_s": round(time_reference(
            model, prompts[: args.reference_prompts], args.reference_batch, args.max_new_tokens, args.device), 3)})
    if "scoring_prompts_per_s" in figures and "reference_prompts_per_s" in figures:
        figures["scoring_speedup"] = round(figures["scoring_prompts_per_s"] / figures["reference_prompts_per_s"], 1)
    ways = {"tuning": {}, "tuning_shared_prefix": {"share_prefix": True}}
    for tokens in args.chunk_tokens:
        ways[f"tuning_chunked{tokens}"] = {"max_forward_tokens": tokens}
        ways[f"tuning_chunked{tokens}_shared_prefix"] = {"share_prefix": True, "max_forward_tokens": tokens}
    if args.compile:
        ways["tuning_compiled"] = {"compiled": True}
        ways["tuning_compiled_shared_prefix"] = {"compiled": True, "share_prefix": True}
    runs: dict[str, list[dict]] = {name: [] for name in ways}

    def tune_once(name: str) -> dict:
        """One timing of one way, kept in `runs`; the median is written into `figures` below."""
        runs[name].append(time_tuning(model, prompts[:128], args.micro_batch, args.tuning_steps, args.device, name,
                                      **ways[name]))
        return {}

    for repeat in range(args.repeats):
        order = list(ways) if repeat % 2 == 0 else list(reversed(ways))
        for name in order:
            measure(name, lambda name=name: tune_once(name))
    for name, done in runs.items():
        if not done:
            continue
        speeds = [d[f"{name}_tokens_per_s"] for d in done]
        figures.update(done[0])
        figures[f"{name}_tokens_per_s"] = round(statistics.median(speeds), 1)
        figures[f"{name}_tokens_per_s_runs"] = speeds
        figures[f"{name}_peak_gib"] = max((d[f"{name}_peak_gib"] or 0) for d in done) or None
        if name != "tuning" and runs["tuning"]:
            figures[f"{name}_speedup"] = round(figures[f"{name}_tokens_per_s"] / figures["tuning_tokens_per_s"], 2)
    for key, value in figures.items():
        print(f"{key:40s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
