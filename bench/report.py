"""Tables from the results store alone: a pure function of the records."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.store import ResultStore


def _cell_text(aucs: list[float], not_applicable: bool) -> str:
    if not aucs:
        return "n/a" if not_applicable else "missing"
    mean = 100 * float(np.mean(aucs))
    if len(aucs) == 1:
        return f"{mean:.2f} (1 seed)"
    return f"{mean:.2f} ± {100 * float(np.std(aucs, ddof=1)):.2f} (n={len(aucs)})"


def auc_table(records: list[dict[str, Any]]) -> str:
    """Markdown: AUC x 100, mean ± sample std over seeds, one table per (train -> test) pair."""
    aucs: dict[tuple, list[float]] = defaultdict(list)
    na: set[tuple] = set()
    for r in records:
        cell = (r["train"], r["test"], r["method"], r["shots"], r.get("test_size"))
        if r["status"] == "ok":
            aucs[cell].append(r["auc"])
        else:
            na.add(cell)
    cells = set(aucs) | na
    lines = ["# AUC x 100 (mean ± std over seeds)", ""]
    for train, test, test_size in sorted({(c[0], c[1], c[4]) for c in cells}, key=str):
        shots = sorted({c[3] for c in cells if (c[0], c[1], c[4]) == (train, test, test_size)})
        methods = sorted({c[2] for c in cells if (c[0], c[1], c[4]) == (train, test, test_size)})
        subset = "full test set" if test_size is None else f"fixed {test_size}-sample test subset"
        lines += [f"## train {train} -> test {test} ({subset})", "",
                  "| method | " + " | ".join(f"K={k}" for k in shots) + " |",
                  "|---|" + "---|" * len(shots)]
        for method in methods:
            row = [_cell_text(aucs.get((train, test, method, k, test_size), []),
                              (train, test, method, k, test_size) in na) for k in shots]
            lines.append(f"| {method} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def write_reports(store: ResultStore, out_dir: Path) -> list[Path]:
    records = list(store.records())
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "auc.md"
    path.write_text(auc_table(records))
    return [path]
