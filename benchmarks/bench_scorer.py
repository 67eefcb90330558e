"""Side by side: the single-forward scorer vs the authors' way of scoring, same model, same prompts.

The authors' way (evaluate.py): `generate(max_new_tokens=128, output_scores=True,
return_dict_in_generate=True)` and keep only the first step's scores; here batched by 32 with left
padding, in file order. Ours: `bench.lm.scorer.LMScorer` as the LM methods use it (one forward pass,
length buckets, right padding, the domain's preamble computed once), and also without the shared
preamble, to show what each part gives. Prints the AUCs, the largest score differences and the ratios.

With --compare-precisions it compares instead the scorer in float32 and in bfloat16 (the LM methods'
`precision`) on the same prompts, --repeats timed runs of each, alternated (and which goes first
alternated) so that load from other processes hits both alike: prompts/s of each and their ratio, the
largest log-odds and log-prob differences, and the AUC of each under both score kinds. It says whether
the CPU has bfloat16 instructions (avx512_bf16, amx_bf16) and runs either way.

    nice -n 10 python benchmarks/bench_scorer.py --n 200           # movie test prompts, embedded SmolLM2
    nice -n 10 python benchmarks/bench_scorer.py --n 96 --compare-precisions --repeats 3
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


PRECISIONS = ("float32", "bfloat16")


def compare_precisions(args, prompts: list[str], labels: list[int], threads: int) -> dict:
    """float32 vs bfloat16, same prompts and scorer settings, alternated timed runs; printed side by side."""
    import torch

    from bench.data.prompts import preamble
    from bench.lm.models import cpu_bf16_flags, cpu_bf16_note, load
    from bench.lm.scorer import LMScorer, scores_from_log_probs
    from bench.metrics import auc
    from bench.run.provenance import machine

    capability = torch.backends.cpu.get_cpu_capability()
    print(f"{machine('cpu')}; torch {torch.__version__}, CPU capability {capability}")
    print(cpu_bf16_note())
    loaded = {p: load(args.model, "cpu", p) for p in PRECISIONS}
    shared = preamble(args.domain)
    scorers = {p: LMScorer(m.model, m.tokenizer, batch_size=args.batch_size, shared_prefix=shared)
               for p, m in loaded.items()}
    for p in PRECISIONS:  # warm-up: first-call allocations and kernel choices are not timed
        scorers[p].log_probs(prompts[: args.batch_size])
    seconds: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    log_probs = {}
    for repeat in range(args.repeats):
        for p in PRECISIONS if repeat % 2 == 0 else PRECISIONS[::-1]:
            started = time.perf_counter()
            log_probs[p] = scorers[p].log_probs(prompts)
            seconds[p].append(time.perf_counter() - started)
    median = {p: float(np.median(s)) for p, s in seconds.items()}
    per_s = {p: len(prompts) / m for p, m in median.items()}
    logodds = {p: scores_from_log_probs(lp, "logodds") for p, lp in log_probs.items()}
    aucs = {kind: {p: auc(labels, scores_from_log_probs(lp, kind).tolist()) for p, lp in log_probs.items()}
            for kind in ("logodds", "reference")}
    figures = {
        "model": args.model, "location": loaded["float32"].location, "prompts": len(prompts),
        "threads": threads, "batch_size": args.batch_size, "repeats": args.repeats,
        "cpu_bf16_flags": cpu_bf16_flags(), "cpu_capability": capability,
        "seconds": {p: [round(x, 2) for x in s] for p, s in seconds.items()},
        "prompts_per_s": {p: round(v, 3) for p, v in per_s.items()},
        "speedup_bfloat16_over_float32": round(per_s["bfloat16"] / per_s["float32"], 3),
        "max_abs_logodds_difference": float(np.max(np.abs(logodds["bfloat16"] - logodds["float32"]))),
        "max_abs_log_prob_difference": float(np.max(np.abs(log_probs["bfloat16"] - log_probs["float32"]))),
        "auc": aucs,
        "auc_difference": {kind: a["bfloat16"] - a["float32"] for kind, a in aucs.items()},
    }
    rows = [(f"seconds per run (median of {args.repeats})", *(f"{median[p]:.2f}" for p in PRECISIONS), ""),
            ("prompts/s", *(f"{per_s[p]:.3f}" for p in PRECISIONS),
             f"{figures['speedup_bfloat16_over_float32']:.2f}x"),
            *((f"AUC ({kind})", *(f"{a[p]:.6f}" for p in PRECISIONS),
               f"{figures['auc_difference'][kind]:+.2e}") for kind, a in aucs.items()),
            ("largest |log-odds difference|", "", "", f"{figures['max_abs_logodds_difference']:.3e}"),
            ("largest |log-prob difference|", "", "", f"{figures['max_abs_log_prob_difference']:.3e}")]
    print(f"\n{args.model}, {len(prompts)} {args.domain} test prompts, batch {args.batch_size}, shared "
          f"preamble, {threads} threads; seconds of the alternated runs: {figures['seconds']}")
    print(f"{'':32s} {'float32':>12s} {'bfloat16':>12s} {'bf16 vs f32':>12s}")
    for name, *cells in rows:
        print(f"{name:32s} " + " ".join(f"{c:>12s}" for c in cells))
    return figures


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
    parser.add_argument("--compare-precisions", action="store_true",
                        help="compare the scorer in float32 and bfloat16 instead (no generate reference)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each precision, alternated")
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
    if args.compare_precisions:
        figures = compare_precisions(args, prompts, labels, threads)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=1)
        return
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
