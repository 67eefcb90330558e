"""Would a guard that keeps the untuned model help? Measured on the committed `cpu` cells, validation only.

The guard: after tuning, keep the adapter only if its best validation AUC beats the untuned model's on
the same validation subset (the `cpu` preset's 128 samples, `tallrec.valid_size`); otherwise score
with the untuned model. This script scores the untuned SmolLM2 (log-odds) on that subset of each
domain, reads every committed same-domain tallrec `cpu` record (recent history, no hint) from the store, and prints what the
guard would have chosen and the test AUC it would have reported. Nothing is tuned; about 2-3 minutes
a domain on a 2-core CPU.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/untuned_fallback.py --data-dir ../shared/data

Results: docs/cpu-recipe.md ("A fallback to the untuned model").
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--store", type=Path, default=Path("results"))
    args = parser.parse_args()

    from bench.data.domains import load_domain
    from bench.data.splits import evaluation_subset
    from bench.metrics import auc
    from bench.report.aggregate import with_views
    from bench.run.registry import build
    from bench.run.store import ResultStore

    records = with_views(list(ResultStore(args.store).records()))  # zero-shot log-odds: a view of its records
    plain = {"history": "recent", "hint": False}  # prompt options change the untuned model too: left out

    def chosen(r: dict, method: str) -> bool:
        return (r["method"] == method and r["status"] == "ok" and r["train"] == r["test"] and r.get("test_size") is None
                and r["config"].get("score") == "logodds" and all(r["config"].get(k, v) == v for k, v in plain.items()))

    cells = [r for r in records if chosen(r, "tallrec") and r["config"].get("preset") == "cpu" and not r.get("view_of")]
    untuned_test = {r["test"]: r["auc"] for r in records if chosen(r, "zero-shot")}
    untuned_valid = {}
    for domain in sorted({r["test"] for r in cells}):
        size = max(r["config"]["valid_size"] for r in cells if r["test"] == domain)
        valid = evaluation_subset(load_domain(domain, args.data_dir).valid, size)  # tallrec's own subset rule
        scores = build("zero-shot", {"score": "logodds"}, device="cpu").score(valid)
        untuned_valid[domain] = auc([s.label for s in valid], scores)
        print(f"{domain}: untuned log-odds AUC on the {len(valid)}-sample validation subset {100 * untuned_valid[domain]:.2f}",
              flush=True)
    print("\n| cell | best validation AUC tuned | untuned | guard keeps | test AUC tuned | with the guard |")
    print("|---|---|---|---|---|---|")
    for r in sorted(cells, key=lambda r: (r["test"], r["shots"], r["seed"], str(r["config"]))):
        tuned_valid = r["method_extra"]["best_valid_auc"]
        keeps = "adapter" if tuned_valid > untuned_valid[r["test"]] else "untuned"
        test_with = r["auc"] if keeps == "adapter" else untuned_test.get(r["test"], float("nan"))
        print(f"| {r['test']} K={r['shots']} seed {r['seed']} | {100 * tuned_valid:.2f} "
              f"| {100 * untuned_valid[r['test']]:.2f} | {keeps} | {100 * r['auc']:.2f} | {100 * test_with:.2f} |")


if __name__ == "__main__":
    main()
