"""Side by side: `tallrec` tuning recipes for a CPU, chosen on VALIDATION AUC only (no test sample is touched).

For each candidate (a dict of tallrec parameters on top of a preset), the K shots and the validation set
are built exactly as the harness builds them (`bench.data.splits.training_set`), the method is built
through the registry (`bench.run.registry.build("tallrec", ...)`) and fitted with a FitContext whose
artifact dir lies under --work, i.e. the harness's own tuning path (`TallRec.fit` -> `tune_lora`).

Two validation AUCs per config:
  select_auc   the best validation AUC the run itself saw (on its `valid_size` subset, the one that picks the
               adapter; every candidate here uses the same subset rule, so the subsets are nested: the first
               64 of the seed-0 permutation are the first 64 of the 128). Optimistic: a max over evaluations.
  heldout_auc  the chosen adapter re-scored on a COMMON held-out validation subset: validation samples at
               positions [--select-max, --select-max + --heldout) of the same seed-0 permutation, so disjoint
               from every run's selection subset and the same for all configs. Reported under both score kinds.
Baselines on the same two subsets: the untuned model (`zero-shot`), under `reference` and `logodds`.

Each finished config is appended to --out as one JSON line (with `uptime` load before and after), and a
table is printed. A config whose artifact dir already holds tuning.json is not retrained (resume).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/search_cpu_recipe.py --data-dir ../shared/data \
        --domain movie --k 16 --seed 0 --configs zero-shot fast cpu-a-logodds --out /tmp/recipe_search.jsonl

Results and the chosen recipe: docs/cpu-recipe.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

# More, smaller steps: batch 4 -> 4 optimizer steps per epoch at K=16; 8 epochs = 32 steps; validation
# on the same 64-sample subset as fast, every 8 steps (4 evaluations: scoring is most of a CPU run).
# The other candidates vary one or two of these.
CPU_A = {"preset": "fast", "learning_rate": "5e-4", "batch_size": "4", "micro_batch_size": "4", "epochs": "8",
         "warmup_steps": "4", "eval_steps": "8", "patience": "2", "valid_size": "64", "share_prefix": "true"}

# Candidates: tallrec overrides (strings, as on the CLI) on top of `preset`. LoRA shape, prompt, loss,
# cutoff_len and train_on_inputs stay the paper's in all of them.
CONFIGS: dict[str, dict[str, str]] = {
    # today's preset: 6 steps of 16 at K=16, eval every 2 on 64
    "fast": {"preset": "fast"},
    "fast-logodds": {"preset": "fast", "score": "logodds"},
    "cpu-a": CPU_A,
    "cpu-a-logodds": {**CPU_A, "score": "logodds"},
    "cpu-b-logodds": {**CPU_A, "learning_rate": "1e-3", "score": "logodds"},
    "cpu-c-logodds": {**CPU_A, "learning_rate": "3e-4", "score": "logodds"},
    "cpu-d-logodds": {**CPU_A, "batch_size": "8", "micro_batch_size": "8", "epochs": "12", "warmup_steps": "2",
                      "eval_steps": "6", "score": "logodds"},
    # a larger selection subset (128) evaluated half as often, at the faster rate: less selection noise
    "cpu-e-logodds": {**CPU_A, "learning_rate": "1e-3", "valid_size": "128", "eval_steps": "16",
                      "score": "logodds"},
    # many more small steps (a quiet 2-core CPU takes about 4 s per 4-prompt step with share_prefix):
    # 96 steps, selection on 128 samples every 16 steps, stopping after 3 evaluations without a gain
    "cpu-f-logodds": {**CPU_A, "epochs": "24", "warmup_steps": "8", "eval_steps": "16", "patience": "3",
                      "valid_size": "128", "score": "logodds"},
    # cpu-f with the loss on the answer only: with train_on_inputs (the paper's) most of the loss, and of
    # its fall (2.6 -> 1.0 in 64 steps), is the prompt's own text, not the Yes/No
    "cpu-h-logodds": {**CPU_A, "epochs": "24", "warmup_steps": "8", "eval_steps": "16", "patience": "3",
                      "valid_size": "128", "train_on_inputs": "false", "score": "logodds"},
    # cpu-f's 96 steps at K=64 (16 steps of 4 an epoch): 6 epochs
    "cpu-g-logodds": {**CPU_A, "epochs": "6", "warmup_steps": "8", "eval_steps": "16", "patience": "3",
                      "valid_size": "128", "score": "logodds"},
    # cpu-h's answer-only loss at K=64 (cpu-g's 96 steps)
    "cpu-i-logodds": {**CPU_A, "epochs": "6", "warmup_steps": "8", "eval_steps": "16", "patience": "3",
                      "valid_size": "128", "train_on_inputs": "false", "score": "logodds"},
}
BOOK_EXTRA = {"max_forward_tokens": "2048"}  # book prompts are long; chunking bounds memory (same loss)


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _positions(n: int, start: int, stop: int) -> list[int]:
    from bench.data.splits import TEST_SUBSET_SEED

    return sorted(np.random.default_rng(TEST_SUBSET_SEED).permutation(n)[start:stop].tolist())


def _aucs(labels: list[int], log_probs: np.ndarray) -> dict[str, float]:
    from bench.lm.scorer import SCORES, scores_from_log_probs
    from bench.metrics import auc

    return {kind: round(100 * auc(labels, scores_from_log_probs(log_probs, kind).tolist()), 2) for kind in SCORES}


def _values_to_array(values: dict) -> np.ndarray:
    return np.stack([np.asarray(values["log_p_yes"], dtype=np.float32),
                     np.asarray(values["log_p_no"], dtype=np.float32)], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--domain", default="movie")
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", nargs="+", default=["zero-shot", "fast", "cpu-a"],
                        help=f"zero-shot and/or any of: {', '.join(CONFIGS)}")
    parser.add_argument("--select-max", type=int, default=128,
                        help="largest valid_size any candidate uses; the held-out subset starts after it")
    parser.add_argument("--heldout", type=int, default=128, help="size of the common held-out validation subset")
    parser.add_argument("--work", default="/tmp/recipe_search", help="artifact dirs (adapters) go here")
    parser.add_argument("--out", default="/tmp/recipe_search.jsonl")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import methods  # noqa: F401  (registers the methods)
    import methods.lm  # noqa: F401
    from bench.data.splits import evaluation_subset, training_set
    from bench.run.registry import FitContext, build

    data_dir = Path(args.data_dir) if args.data_dir else None
    ts = training_set(args.domain, args.k, args.seed, data_dir)
    heldout = [ts.valid[i] for i in _positions(len(ts.valid), args.select_max, args.select_max + args.heldout)]
    select64 = evaluation_subset(ts.valid, 64)
    labels_h = [s.label for s in heldout]
    cell = f"{args.domain}-k{args.k}-s{args.seed}"
    rows = []
    for name in args.configs:
        load_before = _load()
        started = time.perf_counter()
        row: dict = {"cell": cell, "config": name, "load_before": load_before}
        if name == "zero-shot":
            zs = build("zero-shot", {})
            zs.fit(ts.shots, ts.valid, FitContext(args.seed, args.domain, [args.domain], ts.pool,
                                                  Path(args.work) / "zs", args.device))
            zs.score(select64)
            row["select_auc_by_kind"] = _aucs([s.label for s in select64], _values_to_array(zs.sample_values()))
            zs.score(heldout)
            row["heldout_auc"] = _aucs(labels_h, _values_to_array(zs.sample_values()))
            row["settings"] = {}
        else:
            overrides = dict(CONFIGS[name])
            if args.domain == "book":
                overrides = {**overrides, **BOOK_EXTRA}
            method = build("tallrec", overrides)
            artifact = Path(args.work) / f"{cell}-{name}"
            method.fit(ts.shots, ts.valid, FitContext(args.seed, args.domain, [args.domain], ts.pool,
                                                      artifact, args.device))
            extra = method.extra_record()
            fitted = time.perf_counter()
            method.score(heldout)
            row["heldout_auc"] = _aucs(labels_h, _values_to_array(method.sample_values()))
            row["heldout_seconds"] = round(time.perf_counter() - fitted, 1)
            row["settings"] = method.settings().__dict__ | {"score": method.score_kind}
            row.update({"selected_by": method.score_kind, "valid_samples_used": extra.get("valid_samples_used"),
                        "select_auc": round(100 * extra["best_valid_auc"], 2) if extra.get("best_valid_auc") else None,
                        "best_step": extra.get("best_step"), "steps_done": extra.get("steps_done"),
                        "stopped_early": extra.get("stopped_early"), "train_seconds": extra.get("train_seconds"),
                        "valid_curve": [(h["step"], round(100 * h["valid_auc"], 1)) for h in extra.get("history", [])
                                        if "valid_auc" in h],
                        "loss_curve": [round(h["train_loss"], 3) for h in extra.get("history", [])]})
        row["wall_seconds"] = round(time.perf_counter() - started, 1)
        row["load_after"] = _load()
        row["heldout_size"] = len(heldout)
        rows.append(row)
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k not in ("settings", "loss_curve")}), flush=True)

    print(f"\n{cell}: held-out validation subset of {len(heldout)} (positions {args.select_max}.."
          f"{args.select_max + args.heldout} of the seed-0 permutation); AUC x100")
    print(f"{'config':16} {'sel_by':9} {'select':>7} {'best':>4} {'steps':>5} {'train_s':>8} "
          f"{'ho_ref':>7} {'ho_logodds':>10} {'load':>9}")
    for r in rows:
        if r["config"] == "zero-shot":
            sel = r["select_auc_by_kind"]
            print(f"{'zero-shot':16} {'-':9} {sel['reference']:>4}/{sel['logodds']:<5} {'-':>4} {'-':>5} {'-':>8} "
                  f"{r['heldout_auc']['reference']:>7} {r['heldout_auc']['logodds']:>10} "
                  f"{r['load_before']:>4}/{r['load_after']}")
            continue
        print(f"{r['config']:16} {r['selected_by']:9} {r['select_auc']!s:>7} {r['best_step']!s:>4} "
              f"{r['steps_done']!s:>5} {r['train_seconds']!s:>8} {r['heldout_auc']['reference']:>7} "
              f"{r['heldout_auc']['logodds']:>10} {r['load_before']:>4}/{r['load_after']}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
