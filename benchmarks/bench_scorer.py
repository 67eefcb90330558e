"""Side by side: the single-forward scorer vs the authors' way of scoring, same model, same prompts.

The authors' way (evaluate.py): `generate(max_new_tokens=128, output_scores=True,
return_dict_in_generate=True)` and keep only the first step's scores; here batched by 32 with left
padding, in file order. Ours: `bench.lm.scorer.LMScorer` as the LM methods use it (one forward pass,
length buckets, right padding, the domain's preamble computed once), and also without the shared
preamble, to show what each part gives. Prints the AUCs, the largest score differences and the ratios.

    nice -n 10 python benchmarks/bench_scorer.py --n 200           # movie test prompts, embedded SmolLM2
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def reference_scores(model, tokenizer, prompts: list[str], batch_size: int, max_new_tokens: int,
                     steps: list[int] | None = None) -> list[float]:
    """The authors' way; `steps`, when given, collects how many tokens each batch generated before every
    prompt of it had ended (generate stops there, so this is what the reference pays beyond the prompt)."""
    import torch

    from bench.lm.scorer import answer_token_ids, pad_token_id

    yes, no = answer_token_ids(tokenizer)
    tokenizer.padding_side = "left"
    pad = pad_token_id(tokenizer)
    out: list[float] = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True)
            with torch.no_grad():
                generated = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                           output_scores=True, return_dict_in_generate=True, pad_token_id=pad)
            if steps is not None:
                steps.append(len(generated.scores))
            probs = generated.scores[0].float().softmax(dim=-1)
            pair = torch.stack([probs[:, yes], probs[:, no]], dim=1).softmax(dim=-1)
            out += pair[:, 0].tolist()
    finally:
        tokenizer.padding_side = "right"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--domain", default="movie")
    parser.add_argument("--n", type=int, default=200, help="the first N test prompts (file order)")
    parser.add_argument("--reference-batch-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16, help="batch size of the single-forward scorer")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()

    from bench.data.domains import load_domain
    from bench.data.prompts import alpaca_prompt, preamble
    from bench.lm.models import load, set_threads
    from bench.lm.scorer import LMScorer
    from bench.metrics import auc

    threads = set_threads(args.threads)
    samples = load_domain(args.domain, args.data_dir).test[: args.n]
    prompts = [alpaca_prompt(s) for s in samples]
    labels = [s.label for s in samples]
    loaded = load(args.model, "cpu")
    scorer = LMScorer(loaded.model, loaded.tokenizer, batch_size=args.batch_size, shared_prefix=preamble(args.domain))
    unshared = LMScorer(loaded.model, loaded.tokenizer, batch_size=args.batch_size)
    tokens = [len(ids) for ids in scorer.tokenize(prompts)]

    started = time.perf_counter()
    ours = scorer.scores(prompts, "reference")
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    ours_unshared = unshared.scores(prompts, "reference")
    unshared_s = time.perf_counter() - started
    started = time.perf_counter()
    steps: list[int] = []
    theirs = reference_scores(loaded.model, loaded.tokenizer, prompts, args.reference_batch_size, args.max_new_tokens,
                              steps)
    theirs_s = time.perf_counter() - started

    figures = {
        "model": args.model, "location": loaded.location, "prompts": len(prompts), "threads": threads,
        "mean_prompt_tokens": float(np.mean(tokens)), "max_prompt_tokens": max(tokens),
        "shared_preamble_tokens": scorer.shared_length(scorer.tokenize(prompts)),
        "single_forward_seconds": round(ours_s, 2), "single_forward_prompts_per_s": round(len(prompts) / ours_s, 3),
        "unshared_seconds": round(unshared_s, 2), "unshared_prompts_per_s": round(len(prompts) / unshared_s, 3),
        "reference_generated_steps_per_batch": steps,
        "reference_seconds": round(theirs_s, 2), "reference_prompts_per_s": round(len(prompts) / theirs_s, 3),
        "speedup": round(theirs_s / ours_s, 2), "speedup_unshared": round(theirs_s / unshared_s, 2),
        "auc_single_forward": auc(labels, ours), "auc_unshared": auc(labels, ours_unshared),
        "auc_reference": auc(labels, theirs),
        "max_abs_score_difference": float(np.max(np.abs(np.array(ours) - np.array(theirs)))),
        "max_abs_score_difference_unshared": float(np.max(np.abs(np.array(ours_unshared) - np.array(theirs)))),
    }
    figures["auc_difference"] = abs(figures["auc_single_forward"] - figures["auc_reference"])
    for key, value in figures.items():
        print(f"{key:32s} {value}")
    print(f"\nsingle forward is {figures['speedup']}x faster than generate({args.max_new_tokens}) "
          f"(batch {args.reference_batch_size}, left padding); AUC difference {figures['auc_difference']:.2e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
