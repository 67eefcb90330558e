"""Does tuning help? Each tuned cell against the untuned model it starts from, by the user-level test.

A tuned method names its untuned counterpart in its `untuned` tag (tallrec: zero-shot). The untuned
cell is the one with the same model, precision, score kind and prompt options, scored on the same test
samples. Its scores depend on neither K, seed nor train domain, so one untuned cell per test set stands
in for every tuned cell there; with the hint they do (it reads the train pool less the cell's shots), so
there the untuned cell must have the same train domain, K and seeds. A tuned cell shown under the other
score kind (a view, `selected_by`) is left out: its adapter was chosen under its own kind.
Holm-corrected within each test set: each test set asks its own question ("does tuning help on movie?"),
as each column of the main table does, and a family that grew with the number of test sets would need
ever more resamples per test (`statistics.resamples_for`), so the report's time would grow with their square.
"""

from __future__ import annotations

from typing import Any

from bench.report.aggregate import ALPHA, TableCell, Tables, compared, scored_alike
from bench.report.labels import table_labels
from bench.report.text import subset_name
from bench.run import registry


def _untuned_identity(cell: TableCell) -> tuple:
    """What must match between a tuned cell and the untuned cell it is compared with."""
    config: dict[str, Any] = cell.records[0]["config"]
    hint = bool(config.get("hint", False))
    shots = (cell.train, cell.shots, tuple(cell.seeds)) if hint else None
    return (cell.test, config.get("model"), config.get("precision", "float32"), config.get("score"),
            config.get("history", "recent"), hint, shots, tuple(cell.runs[0]["sample_ids"]))


def tuning_gain_markdown(tables: Tables, test_size: int | None) -> str:
    """The table, and one sentence: in how many cells tuning is significantly above / below."""
    cells = [c for k, c in tables.cells.items() if k[0] == test_size and c.records and scored_alike(c)]
    partner = {c.method: registry.tag(c.method, "untuned", "") for c in cells}  # a tuned method names its own
    untuned = {}
    for c in sorted((c for c in cells if c.method in set(partner.values())), key=lambda c: (c.train, c.shots)):
        untuned.setdefault((c.method, _untuned_identity(c)), c)
    pairs = [(c, untuned[(partner[c.method], _untuned_identity(c))]) for c in cells
             if partner[c.method] and not c.records[0].get("view_of")
             and (partner[c.method], _untuned_identity(c)) in untuned]
    if not pairs:
        return ""
    pairs.sort(key=lambda p: (p[0].train != p[0].test, p[0].test, p[0].train, p[0].row, p[0].shots))
    by_pair = {}
    for test in dict.fromkeys(tuned.test for tuned, _ in pairs):
        family = [i for i, (tuned, _) in enumerate(pairs) if tuned.test == test]
        by_pair.update(zip(family, compared([pairs[i] for i in family], tables.bank), strict=True))
    comparisons = [by_pair[i] for i in range(len(pairs))]
    spreads = [100 * (max(c.aucs) - min(c.aucs)) for c, _ in pairs if len(c.runs) > 1]
    spread = f" (the seeds of one cell here differ by up to {max(spreads):.1f} points)" if spreads else ""
    lines = [f"### Does tuning help? Tuned methods against their untuned model ({subset_name(test_size)})", "",
             "Each tuned cell against its untuned model with the same model, precision, score kind and prompt options "
             "on the same test samples: ΔAUC x 100 of the means, paired cluster bootstrap over users (and seeds), "
             f"two-sided, Holm-corrected within each test set, p < {ALPHA}. A cell of one run is tested over users "
             "only: it says that adapter beats the untuned model, not that tuning would on another draw of "
             f"shots{spread}; with two or three seeds the seed part of the interval rests on two or three "
             "draws, however it is computed.", "",
             "| train → test | K | tuned row | tuned | untuned | ΔAUC x 100 | 95% interval of Δ | p (Holm) |",
             "|---" * 8 + "|"]
    labels, note = table_labels(tables, test_size)
    if note:
        lines.insert(3, note + "\n")
    for (tuned, base), comparison in zip(pairs, comparisons, strict=True):
        r, runs = comparison.result, len(tuned.runs)
        lines.append(f"| {tuned.train} → {tuned.test} | {tuned.shots} | {labels[tuned.row]} | {100 * tuned.mean:.2f} "
                     f"({runs} run{'s' if runs > 1 else ''}) | {100 * base.mean:.2f} | {100 * r.difference:+.2f} | "
                     f"[{100 * r.low:+.2f}, {100 * r.high:+.2f}] | {comparison.p_holm:.2g} |")
    above = sum(c.significant and c.result.difference > 0 for c in comparisons)
    below = sum(c.significant and c.result.difference < 0 for c in comparisons)
    single = sum(c.significant and c.result.difference > 0 and len(t.runs) == 1
                 for (t, _), c in zip(pairs, comparisons, strict=True))
    lines += ["", f"Tuning is significantly above the untuned model in {above} of {len(pairs)} cells "
              f"({single} of them a single run) and significantly below it in {below}.", ""]
    return "\n".join(lines)
