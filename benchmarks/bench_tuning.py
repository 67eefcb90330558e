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

With --precisions float32 bfloat16 each way runs in each precision (the LM methods' `precision`: the base
model loaded in that dtype, the LoRA weights float32 as peft keeps them), all alternated, from the same
initial adapter and with the same dropout masks per step: tokens/s and micro-batch steps/s per precision,
bfloat16's speed-up over float32 and the loss each computes. It says whether the CPU has bfloat16
instructions (avx512_bf16, amx_bf16) and runs either way.

    python benchmarks/bench_tuning.py --data-dir ../shared/data --domain book --memory   # embedded SmolLM2, CPU
    python benchmarks/bench_tuning.py --ways shared --precisions float32 bfloat16 --micro-batch 4 --repeats 3
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
    import dataclasses

    from methods.lm import PRESETS

    changes = {k: (chunk_tokens if v is None else v) for k, v in WAYS[way].items()}
    return dataclasses.replace(PRESETS["paper"].settings, **changes)


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


def _with_way(variants: dict[str, tuple[str, str]], variant: str, way: str) -> str:
    """The name of the variant in the same precision as `variant`, computed `way`."""
    precision = variants[variant][0]
    return next((name for name, (p, w) in variants.items() if p == precision and w == way), "")


def _print_precisions(figures: dict, variants: dict[str, tuple[str, str]], median: dict[str, float],
                      losses: dict[str, float], repeats: int) -> None:
    """Each way in each precision side by side, and bfloat16's speed-up over float32."""
    names = figures["precisions"]
    print(f"\n{figures['micro_batch']} {figures['domain']} training prompts, {figures['real_tokens']} real "
          f"tokens per micro-batch step (forward + backward), median of {repeats} alternated runs")
    print(f"{'way':16s} {'precision':10s} {'s/step':>8s} {'steps/s':>8s} {'tokens/s':>9s} {'loss':>9s}")
    for way in dict.fromkeys(w for _, w in variants.values()):
        for name in names:
            variant = f"{name} {way}"
            print(f"{way:16s} {name:10s} {median[variant]:8.2f} {1 / median[variant]:8.3f} "
                  f"{figures['tokens_per_s'][variant]:9.1f} {losses[variant]:9.5f}")
        if {"float32", "bfloat16"} <= set(names):
            speedup = median[f"float32 {way}"] / median[f"bfloat16 {way}"]
            difference = losses[f"bfloat16 {way}"] - losses[f"float32 {way}"]
            print(f"{way:16s} {'bf16/f32':10s} speed-up {speedup:.2f}x, loss difference {difference:+.2e}")


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
    parser.add_argument("--precisions", nargs="+", default=["auto"], choices=["auto", "float32", "bfloat16"],
                        help="the base model's dtype (auto: the device's, as for the LM methods); "
                             "several: compared")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch
    from peft import get_peft_model

    from bench.data.domains import load_domain
    from bench.data.prompts import ANSWERS, alpaca_prompt
    from bench.lm.models import cpu_bf16_flags, cpu_bf16_note, device_and_dtype, load, precision_for
    from bench.lm.scorer import pad_token_id
    from bench.lm.tuning import _micro_batch_backward, tokenize_example
    from bench.run.provenance import machine

    where = device_and_dtype(args.device)[0]
    precisions = list(dict.fromkeys(precision_for(where, p) for p in args.precisions))  # auto: the device's
    compared = len(precisions) > 1
    loaded = {p: load(args.model, where, p) for p in precisions}
    first = loaded[precisions[0]]
    tokenizer, device = first.tokenizer, next(first.model.parameters()).device
    if device.type == "cpu" and "bfloat16" in precisions:
        capability = torch.backends.cpu.get_cpu_capability()
        print(f"{machine('cpu')}; torch {torch.__version__}, CPU capability {capability}")
        print(cpu_bf16_note())
    samples = load_domain(args.domain, args.data_dir).train[: args.micro_batch]
    examples = [tokenize_example(tokenizer, alpaca_prompt(s), ANSWERS[s.label], 512, True) for s in samples]
    pad = pad_token_id(tokenizer)
    models = {}
    for p, m in loaded.items():
        torch.manual_seed(0)  # the same initial adapter in every precision
        models[p] = get_peft_model(m.model, _settings("plain", args.chunk_tokens).lora_config())
        models[p].train()
    adapter_dtype = {p: str(next(w.dtype for w in model.parameters() if w.requires_grad))
                     for p, model in models.items()}
    # a variant: (precision, way), named by its way alone unless precisions are compared
    variants = {(f"{p} {way}" if compared else way): (p, way) for p in precisions for way in args.ways}

    def step(variant: str, seed: int) -> tuple[float, float]:
        precision, way = variants[variant]
        model = models[precision]
        torch.manual_seed(seed)  # the same dropout masks for every variant of one round
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
        for variant in variants:  # warm-up, and each variant's peak memory
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            elif args.memory:
                _reset_peak_rss()
                rss_before_mb[variant] = _rss_mb()
            step(variant, 0)
            if device.type == "cuda":
                peak_mb[variant] = round(torch.cuda.max_memory_allocated() / 2**20)
            elif args.memory:
                peak_mb[variant] = _peak_rss_mb()
        seconds: dict[str, list[float]] = {variant: [] for variant in variants}
        losses: dict[str, float] = {}
        for repeat in range(args.repeats):  # alternated, and which goes first too
            for variant in list(variants) if repeat % 2 == 0 else list(variants)[::-1]:
                s, losses[variant] = step(variant, 1 + repeat)
                seconds[variant].append(s)
    finally:
        for model in models.values():
            model.base_model.unload()

    tokens = sum(len(e["input_ids"]) for e in examples)
    median = {variant: float(np.median(s)) for variant, s in seconds.items()}
    figures = {"model": args.model, "device": str(device), "domain": args.domain, "micro_batch": len(examples),
               "real_tokens": tokens, "padded_tokens": len(examples) * max(len(e["input_ids"]) for e in examples),
               "chunk_tokens": args.chunk_tokens,
               "seconds": {variant: [round(x, 2) for x in s] for variant, s in seconds.items()},
               "tokens_per_s": {variant: round(tokens / m, 1) for variant, m in median.items()},
               "speedup_over_plain": {variant: round(median[plain] / m, 2) for variant, m in median.items()
                                      if (plain := _with_way(variants, variant, "plain")) in median},
               "loss": losses, "peak_memory_mb": peak_mb, "rss_before_step_mb": rss_before_mb}
    if compared:
        figures["precisions"] = precisions
        figures["adapter_dtype"] = adapter_dtype
        figures["cpu_bf16_flags"] = cpu_bf16_flags()
        figures["steps_per_s"] = {variant: round(1 / m, 4) for variant, m in median.items()}
    for key, value in figures.items():
        print(f"{key:20s} {value}")
    if compared:
        _print_precisions(figures, variants, median, losses, args.repeats)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
