"""What each cell cost: fit, scoring and wall seconds per cell, and where they were measured."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from bench.report.aggregate import _row_sort_key, row_labels


def _mean_seconds(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    return f"{float(np.mean(present)):.1f}" if present else "-"


def _fit_seconds(record: dict[str, Any]) -> tuple[float | None, bool]:
    """The fit's cost, and whether it was paid by an earlier run: a method that keeps its fit (tallrec's
    adapter) records the tuning time with it, and a later run that reuses the fit spends ~0 s itself."""
    spent = record.get("fit_seconds")
    earlier = (record.get("method_extra") or {}).get("train_seconds")
    if earlier is not None and (spent is None or spent < earlier):
        return earlier, True
    return spent, False


def _costs_under_a_second(records: list[dict[str, Any]]) -> bool:
    return all((_fit_seconds(r)[0] or 0) + (r.get("score_seconds") or 0) < 1 for r in records)


def _distinct(records: list[dict[str, Any]], field_name: str) -> str:
    return ", ".join(sorted({str(r.get(field_name, "?")) for r in records}))


def cost_markdown(records: list[dict[str, Any]], display: dict[str, str] | None = None) -> str:
    """Seconds per cell and where they were measured: fit, scoring, and the cell's wall time (its scoring
    plus its share of a fit that served several test domains), mean over the cell's seeds. A fit reused
    from an earlier run shows the time recorded when it was made, marked with *. `display`: row -> the
    label the tables show (bench/report/labels.py)."""
    display = display or {}
    labels = row_labels(records)
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["status"] == "ok":
            groups[(labels[r["key"]], r["train"], r["test"], r.get("test_size") or 0, r["shots"])].append(r)
    cheap = sorted({key[0] for key, rs in groups.items() if _costs_under_a_second(rs)}, key=_row_sort_key)
    groups = {key: rs for key, rs in groups.items() if not _costs_under_a_second(rs)}
    lines = ["## Compute cost per cell", "",
             "Seconds per cell, mean over its seeds: `fit` (once per method, train set, K and seed; * marks "
             "a fit made by an earlier run and reused, such as a tuned adapter scored on another test set: "
             "the time recorded when it was made), `score` (the test set), `wall` (score plus the cell's "
             "share of the fit, as spent by the run that wrote the record). Measured where each record says; "
             "a shared machine makes these noisy." + (f" Every cell of {', '.join(display.get(c, c) for c in cheap)} took under a second "
                                                       "and is not listed." if cheap else ""), "",
             "| method | train → test | test samples | K | seeds | fit s | score s | wall s | device | machine |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (row, train, test, _, shots), rs in sorted(groups.items(), key=lambda kv: (_row_sort_key(kv[0][0]), kv[0][1:])):
        fits = [_fit_seconds(r) for r in rs]
        fit_text = _mean_seconds([f for f, _ in fits]) + ("*" if any(reused for _, reused in fits) else "")
        lines.append(f"| {display.get(row, row)} | {train} → {test} | {rs[0]['n_test']} | {shots} | {len(rs)} | {fit_text} | "
                     f"{_mean_seconds([r.get('score_seconds') for r in rs])} | "
                     f"{_mean_seconds([r.get('wall_seconds') for r in rs])} | {_distinct(rs, 'device')} | "
                     f"{_distinct(rs, 'machine')} |")
    return "\n".join(lines + [""])
