"""Side by side: one LoRA training step (forward + backward) on a micro-batch, plain vs shared preamble.

Same model, same micro-batch of movie training prompts, runs alternated so machine load hits both
alike. Plain: `model(**batch).loss`, as the authors train. Shared: `methods.lm._shared_prefix_loss`
(the preamble every prompt starts with runs once per micro-batch). Prints real tokens/s and the ratio.

    python benchmarks/bench_tuning.py --data-dir ../shared/data               # embedded SmolLM2, CPU
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--domain", default="movie")
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps of each kind, alternated")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch
    from peft import get_peft_model

    from bench.data import load_domain
    from bench.models import load
    from bench.prompts import ANSWERS, alpaca_prompt
    from methods.lm import PRESETS, TuningSettings, _plain_loss, _shared_prefix_loss, tokenize_example

    loaded = load(args.model, args.device)
    tokenizer, device = loaded.tokenizer, next(loaded.model.parameters()).device
    samples = load_domain(args.domain, args.data_dir).train[: args.micro_batch]
    examples = [tokenize_example(tokenizer, alpaca_prompt(s), ANSWERS[s.label], 512, True) for s in samples]
    fields = TuningSettings.__dataclass_fields__
    settings = TuningSettings(**{k: v for k, v in PRESETS["paper"].items() if k in fields})
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model = get_peft_model(loaded.model, settings.lora_config())
    model.train()

    def plain() -> float:
        loss = _plain_loss(model, examples, pad, device)
        loss.backward()
        return loss.item()

    def shared() -> float:
        loss = _shared_prefix_loss(model, examples, pad, device)
        loss.backward()
        return loss.item()

    def timed(step) -> tuple[float, float]:
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        loss = step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - started, loss

    try:
        torch.manual_seed(0)
        timed(plain), timed(shared)  # warm-up
        seconds: dict[str, list[float]] = {"plain": [], "shared": []}
        losses: dict[str, list[float]] = {"plain": [], "shared": []}
        for _ in range(args.repeats):
            for name, step in (("plain", plain), ("shared", shared)):
                s, loss = timed(step)
                seconds[name].append(s)
                losses[name].append(loss)
    finally:
        model.base_model.unload()

    tokens = sum(len(e["input_ids"]) for e in examples)
    figures = {"model": args.model, "device": str(device), "micro_batch": len(examples), "real_tokens": tokens,
               "seconds_plain": [round(s, 2) for s in seconds["plain"]],
               "seconds_shared": [round(s, 2) for s in seconds["shared"]],
               "tokens_per_s_plain": round(tokens / float(np.median(seconds["plain"])), 1),
               "tokens_per_s_shared": round(tokens / float(np.median(seconds["shared"])), 1),
               "speedup": round(float(np.median(seconds["plain"])) / float(np.median(seconds["shared"])), 2),
               "loss_plain": losses["plain"][0], "loss_shared": losses["shared"][0]}
    for key, value in figures.items():
        print(f"{key:22s} {value}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
