"""Side by side: one LoRA training step (forward + backward) on a micro-batch, four ways of computing it.

Same model, same micro-batch of training prompts, runs alternated so machine load hits all alike, all
through `bench.lm.tuning._micro_batch_backward` (what `tune_lora` runs):
  plain          one padded forward, as the authors train;
  shared         the preamble every prompt starts with runs once (`share_prefix`);
  chunked        length-sorted chunks of at most --chunk-tokens padded tokens (`max_forward_tokens`);
  chunked+shared both.
Prints real (unpadded) tokens/s per way, each way's speed-up over plain and, with --memory, each way's
peak memory during one step (CPU: the process's peak resident size, reset before the step through
Linux's /proc/self/clear_refs; CUDA: peak allocated).

    python benchmarks/bench_tuning.py --data-dir ../shared/data --domain book --memory   # embedded SmolLM2, CPU
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time
from pathlib import Path

import numpy as np

WAYS = {"plain": {}, "shared": {"share_prefix": True}, "chunked": {"max_forward_tokens": None},
        "chunked+shared": {"share_prefix": True, "max_forward_tokens": None}}


def _settings(way: str, chunk_tokens: int):
    from bench.lm.tuning import TuningSettings
    from methods.lm import PRESETS

    fields = TuningSettings.__dataclass_fields__
    values = {k: v for k, v in PRESETS["paper"].items() if k in fields}
    values.update({k: (chunk_tokens if v is None else v) for k, v in WAYS[way].items()})
    return TuningSettings(**values)


def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets the process's peak resident size (VmHWM) to the current one;
    memory the previous way freed is handed back first (glibc keeps it otherwise)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")


def _rss_mb() -> int:
    return _status_mb("VmRSS:")


def _peak_rss_mb() -> int:
    return _status_mb("VmHWM:")


def _status_mb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"no {field} in /proc/self/status: peak memory needs Linux")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--domain", default="movie")
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--chunk-tokens", type=int, default=2048, help="max_forward_tokens for the chunked ways")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps of each way, alternated")
    parser.add_argument("--ways", nargs="+", default=list(WAYS), choices=list(WAYS))
    parser.add_argument("--memory", action="store_true", help="also measure each way's peak memory")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch
    from peft import get_peft_model

    from bench.data.domains import load_domain
    from bench.data.prompts import ANSWERS, alpaca_prompt
    from bench.lm.models import load
    from bench.lm.scorer import pad_token_id
    from bench.lm.tuning import _micro_batch_backward, tokenize_example

    loaded = load(args.model, args.device)
    tokenizer, device = loaded.tokenizer, next(loaded.model.parameters()).device
    samples = load_domain(args.domain, args.data_dir).train[: args.micro_batch]
    examples = [tokenize_example(tokenizer, alpaca_prompt(s), ANSWERS[s.label], 512, True) for s in samples]
    pad = pad_token_id(tokenizer)
    model = get_peft_model(loaded.model, _settings("plain", args.chunk_tokens).lora_config())
    model.train()

    def step(way: str) -> tuple[float, float]:
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        loss = _micro_batch_backward(model, examples, pad, device, _settings(way, args.chunk_tokens), 1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - started, loss

    peak_mb: dict[str, int | None] = {}
    rss_before_mb: dict[str, int] = {}
    try:
        torch.manual_seed(0)
        for way in args.ways:  # warm-up, and each way's peak memory
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            elif args.memory:
                _reset_peak_rss()
                rss_before_mb[way] = _rss_mb()
            step(way)
            if device.type == "cuda":
                peak_mb[way] = round(torch.cuda.max_memory_allocated() / 2**20)
            elif args.memory:
                peak_mb[way] = _peak_rss_mb()
        seconds: dict[str, list[float]] = {way: [] for way in args.ways}
        losses: dict[str, float] = {}
        for _ in range(args.repeats):
            for way in args.ways:
                s, losses[way] = step(way)
                seconds[way].append(s)
    finally:
        model.base_model.unload()

    tokens = sum(len(e["input_ids"]) for e in examples)
    median = {way: float(np.median(s)) for way, s in seconds.items()}
    figures = {"model": args.model, "device": str(device), "domain": args.domain, "micro_batch": len(examples),
               "real_tokens": tokens, "padded_tokens": len(examples) * max(len(e["input_ids"]) for e in examples),
               "chunk_tokens": args.chunk_tokens,
               "seconds": {way: [round(x, 2) for x in s] for way, s in seconds.items()},
               "tokens_per_s": {way: round(tokens / m, 1) for way, m in median.items()},
               "speedup_over_plain": {way: round(median["plain"] / m, 2) for way, m in median.items()}
               if "plain" in median else {},
               "loss": losses, "peak_memory_mb": peak_mb, "rss_before_step_mb": rss_before_mb}
    for key, value in figures.items():
        print(f"{key:20s} {value}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
