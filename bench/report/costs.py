"""What each cell cost: fit, scoring and wall seconds per cell, and where they were measured."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.report.aggregate import _row_sort_key, row_labels

if TYPE_CHECKING:
    from bench.report.aggregate import TableCell, Tables


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


# ---------------------------------------------------------------------------------------------
# Per cell: compute seconds per 1000 test samples (the cost axis of the frontier figure)


@dataclass(frozen=True)
class CellCost:
    """What one cell cost: compute seconds per 1000 test samples (mean over the records that measured
    it), where, and API dollars per 1000 test samples where the records carry them."""

    seconds: float
    machines: tuple[str, ...]  # every machine (with its device, if not the CPU) the cell's records ran on
    measured: int  # records whose cost is known
    records: int  # records in the cell
    dollars: float | None = None


def machine_of(record: dict[str, Any]) -> str:
    """Where a record ran: its `machine` string (which names the GPU of a CUDA run), and its device
    where that is not the CPU and the string does not already say so."""
    where = str(record.get("machine") or "machine not recorded")
    device = record.get("device")
    return f"{where}, {device}" if device and device != "cpu" and "GPU" not in where else where


def record_seconds(record: dict[str, Any]) -> float | None:
    """A record's fit plus scoring seconds per 1000 test samples; None when it measured neither, or
    when it reused every score from a cache (its scoring cost was paid by another cell)."""
    fit, _ = _fit_seconds(record)
    score = record.get("score_seconds")
    n = record.get("n_test") or len(record.get("sample_ids") or ())
    if fit is None or score is None or not n:
        return None
    extra = record.get("method_extra") or {}
    reused, scored = extra.get("reused_scores"), extra.get("scored_prompts")
    if reused:
        if not scored:
            return None
        score *= (scored + reused) / scored
    return (fit + score) * 1000 / n


def record_dollars(record: dict[str, Any]) -> float | None:
    """A record's API dollars per 1000 test samples (`method_extra.cost_usd`), where recorded."""
    dollars = (record.get("method_extra") or {}).get("cost_usd")
    n = record.get("n_test") or len(record.get("sample_ids") or ())
    if not isinstance(dollars, int | float) or isinstance(dollars, bool) or not n:
        return None
    return dollars * 1000 / n


def cell_cost(cell: TableCell) -> CellCost | None:
    """The cell's cost (see the module docstring); None when no record of it measured one."""
    seconds = [s for r in cell.records if (s := record_seconds(r)) is not None]
    if not seconds:
        return None
    dollars = [d for r in cell.records if (d := record_dollars(r)) is not None]
    machines = tuple(sorted({machine_of(r) for r in cell.records}))
    return CellCost(float(np.mean(seconds)), machines, len(seconds), len(cell.records),
                    float(np.mean(dollars)) if dollars else None)


def in_domain(tables: Tables, test_size: int | None) -> dict[tuple[str, str, int], TableCell]:
    """(test set, row, K) -> the in-domain cell with records, for one test subset."""
    return {(k[2], k[4], k[3]): c for k, c in tables.cells.items()
            if k[0] == test_size and k[1] == k[2] and c.records}


def cost_column(tables: Tables, test_size: int | None = None) -> dict[tuple[str, str, int], float]:
    """(test set, row, K) -> the in-domain cell's compute, fit plus scoring seconds per 1000 test samples
    (mean over its seeds, on the machine that ran it), for a summary table's cost column. Cells without a
    measured cost are absent. Not clipped at COST_FLOOR: a table can print '<0.01'."""
    found = {}
    for key, cell in in_domain(tables, test_size).items():
        if (cost := cell_cost(cell)) is not None:
            found[key] = cost.seconds
    return found
