"""Paper-style reports from the results store alone: a pure function of the records.

`write_reports` renders into one folder:
  report.md        Table 1 (in-domain AUC x 100, mean ± std over seeds, best per column in bold, the
                   paper's numbers beside), per-cell 95% bootstrap intervals and DeLong tests against
                   the strongest baseline, the cross-domain table, and a summary in words
  tables.tex       the same tables in LaTeX (booktabs)
  auc_vs_k.*, cross_domain.*   figures (PNG and PDF), see bench/figures.py
  auc.md           the plain per-(train -> test) table that `bench run` prints
  (report.md ends with the compute cost per cell: fit, scoring and wall seconds, device, machine)

Statistics, stated in every caption: the confidence interval and the paired test use one seed's
record per cell (the lowest seed that both methods have, normally seed 0), because both resample or
pair *test samples*, which is what a seed's record holds; the spread over seeds is the ± std.
DeLong p-values are Holm-corrected over the comparisons in each column.
Records with different test subsets (`test_size`) never share a table.
"""

from __future__ import annotations

import math
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.statistics import DelongResult, bootstrap_auc_ci, delong_test
from bench.store import ResultStore

PAPER_NUMBERS = Path(__file__).with_name("paper_numbers.toml")
DOMAINS = ("movie", "book")
ALPHA = 0.05
#: Methods that count as baselines: the strongest of them in each column is what the others are
#: tested against (the paper's question: does the LLM beat what a recommender could do anyway?).
BASELINE_PREFIXES = ("random", "like-ratio", "popularity", "gru4rec", "caser", "sasrec")
#: Row order: baselines first (training-free, then sequential), then LLM methods, then the rest.
ROW_ORDER = ("random", "popularity", "like-ratio", "gru4rec", "caser", "sasrec", "zero-shot", "icl", "tallrec")


def is_baseline(method: str) -> bool:
    return method.startswith(BASELINE_PREFIXES)


# ---------------------------------------------------------------------------------------------
# Aggregation: records -> cells


@dataclass
class Comparison:
    """A method's paired DeLong test against the column's strongest baseline."""

    baseline: str
    seed: int
    result: DelongResult
    p_holm: float = math.nan
    seeds_significant: int = 0  # seeds with p < ALPHA (uncorrected), same sign as `result`
    seeds_compared: int = 0

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA


@dataclass
class Cell:
    """One (row, train, test, K) of a table: all seeds' records of one method configuration."""

    row: str
    method: str
    train: str
    test: str
    shots: int
    test_size: int | None
    records: list[dict[str, Any]] = field(default_factory=list)  # status ok, sorted by seed
    not_applicable: bool = False
    ci: tuple[float, float] | None = None
    ci_seed: int | None = None
    comparison: Comparison | None = None

    @property
    def aucs(self) -> list[float]:
        return [r["auc"] for r in self.records]

    @property
    def mean(self) -> float:
        return float(np.mean(self.aucs)) if self.records else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.aucs, ddof=1)) if len(self.records) > 1 else math.nan

    @property
    def seeds(self) -> list[int]:
        return [r["seed"] for r in self.records]

    @property
    def n_test(self) -> int | None:
        return self.records[0]["n_test"] if self.records else None


def _config_label(method: str, config: dict[str, Any], others: list[dict[str, Any]]) -> str:
    """`method`, or `method[k=v, ...]` with the parameters that differ between its configurations."""
    if len(others) <= 1:
        return method
    keys = sorted({k for c in others for k in c if any(c.get(k) != o.get(k) for o in others)})
    shown = [f"{k}={config[k]}" for k in keys if k in config]  # an absent key: implied (a preset's)
    return f"{method}[{', '.join(shown)}]" if shown else method


def row_labels(records: list[dict[str, Any]]) -> dict[str, str]:
    """Record key -> row label: one row per method configuration. A parameter added after earlier
    records were written (the method's `key_neutral_defaults`) at its neutral value is the same
    configuration as its absence; settings a preset implies are named by the preset alone."""
    from bench import registry

    methods = registry.available()
    comparable = {r["key"]: methods[r["method"]].label_config(methods[r["method"]].without_neutral_defaults(
        r["config"])) if r["method"] in methods else r["config"] for r in records}
    configs: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if comparable[r["key"]] not in configs[r["method"]]:
            configs[r["method"]].append(comparable[r["key"]])
    return {r["key"]: _config_label(r["method"], comparable[r["key"]], configs[r["method"]]) for r in records}


def _row_sort_key(row: str) -> tuple:
    method = row.split("[")[0]
    rank = next((i for i, prefix in enumerate(ROW_ORDER) if method.startswith(prefix)), len(ROW_ORDER))
    return rank, row


@dataclass
class Tables:
    """Every cell of the store, grouped by test subset (records with different test_size never mix)."""

    cells: dict[tuple, Cell]  # (test_size, train, test, shots, row) -> cell

    def test_sizes(self) -> list[int | None]:
        return sorted({k[0] for k in self.cells}, key=lambda s: (s is not None, s or 0))

    def rows(self, test_size: int | None) -> list[str]:
        return sorted({k[4] for k in self.cells if k[0] == test_size}, key=_row_sort_key)

    def shots(self, test_size: int | None) -> list[int]:
        return sorted({k[3] for k in self.cells if k[0] == test_size})

    def get(self, test_size, train, test, shots, row) -> Cell | None:
        return self.cells.get((test_size, train, test, shots, row))

    def column(self, test_size, train, test, shots) -> list[Cell]:
        return [c for k, c in self.cells.items() if k[:4] == (test_size, train, test, shots)]

    def has_cross_domain(self, test_size) -> bool:
        return any(k[1] != k[2] for k in self.cells if k[0] == test_size)


def aggregate(records: list[dict[str, Any]], *, with_statistics: bool = True) -> Tables:
    labels = row_labels(records)
    cells: dict[tuple, Cell] = {}
    for r in records:
        row = labels[r["key"]]
        k = (r.get("test_size"), r["train"], r["test"], r["shots"], row)
        cell = cells.setdefault(k, Cell(row, r["method"], r["train"], r["test"], r["shots"], r.get("test_size")))
        if r["status"] == "ok":
            cell.records.append(r)
        else:
            cell.not_applicable = True
    for cell in cells.values():
        cell.records.sort(key=lambda r: r["seed"])
        if cell.records:
            cell.not_applicable = False  # some seed ran: the cell is applicable
    tables = Tables(cells)
    if with_statistics:
        _add_statistics(tables)
    return tables


def strongest_baseline(cells: list[Cell]) -> Cell | None:
    candidates = [c for c in cells if c.records and is_baseline(c.method)]
    return max(candidates, key=lambda c: (c.mean, c.row)) if candidates else None


def _holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone)."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


def _compare(cell: Cell, base: Cell) -> Comparison | None:
    by_seed = {r["seed"]: r for r in base.records}
    results: list[tuple[int, DelongResult]] = []
    for r in cell.records:
        other = by_seed.get(r["seed"])
        if other is None or other["sample_ids"] != r["sample_ids"]:
            continue
        results.append((r["seed"], delong_test(r["labels"], r["scores"], other["scores"])))
    if not results:
        return None
    seed, first = results[0]
    agree = sum(1 for _, res in results if res.p_value < ALPHA and np.sign(res.difference) == np.sign(first.difference))
    return Comparison(base.row, seed, first, seeds_significant=agree, seeds_compared=len(results))


def _add_statistics(tables: Tables) -> None:
    columns = {k[:4] for k in tables.cells}
    for column in columns:
        cells = tables.column(*column)
        for cell in cells:
            if cell.records:
                first = cell.records[0]
                cell.ci, cell.ci_seed = bootstrap_auc_ci(first["labels"], first["scores"]), first["seed"]
        base = strongest_baseline(cells)
        if base is None:
            continue
        compared = [c for c in cells if c is not base and c.records]
        for cell in compared:
            cell.comparison = _compare(cell, base)
        tested = [c for c in compared if c.comparison]
        for cell, p in zip(tested, _holm([c.comparison.result.p_value for c in tested]), strict=True):
            cell.comparison.p_holm = p


# ---------------------------------------------------------------------------------------------
# The paper's numbers


@dataclass
class PaperRow:
    paper_name: str
    method: str
    values: dict[tuple[str, int], float]  # (domain, K) -> AUC x 100


def paper_rows(path: Path = PAPER_NUMBERS) -> tuple[str, list[int], list[PaperRow]]:
    data = tomllib.loads(path.read_text())
    rows = [PaperRow(r["paper_name"], r["method"],
                     {(d, k): v for d in DOMAINS for k, v in zip(data["shots"], r[d], strict=True)})
            for r in data["row"]]
    return data["source"], data["shots"], rows


# ---------------------------------------------------------------------------------------------
# Cell text


def _subset_name(test_size: int | None) -> str:
    return "full test sets" if test_size is None else f"fixed {test_size}-sample test subset (not the full test set)"


def _marker(cell: Cell, base: Cell | None, latex: bool) -> str:
    if base is not None and cell is base:
        return "$^{\\dagger}$" if latex else "†"
    if cell.comparison is None or not cell.comparison.significant:
        return ""
    up = cell.comparison.result.difference > 0
    if latex:
        return "$^{\\uparrow}$" if up else "$^{\\downarrow}$"
    return "↑" if up else "↓"


def cell_text(cell: Cell | None, *, bold: bool = False, marker: str = "", latex: bool = False) -> str:
    """`mean ± std (n)` in AUC x 100; says `1 seed`, `n/a` or `not run` instead of inventing numbers."""
    if cell is None:
        return "not run"
    if not cell.records:
        return "n/a" if cell.not_applicable else "not run"
    mean = f"{100 * cell.mean:.2f}"
    if bold:
        mean = f"\\textbf{{{mean}}}" if latex else f"**{mean}**"
    pm = "$\\pm$" if latex else "±"
    spread = " (1 seed)" if len(cell.records) == 1 else f" {pm} {100 * cell.std:.2f} (n={len(cell.records)})"
    return f"{mean}{spread}{marker}"


def _paper_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


# ---------------------------------------------------------------------------------------------
# Table 1 (in-domain)


@dataclass
class Table1Row:
    label: str
    row: str | None  # our row, None for a paper-only row
    paper: PaperRow | None


def table1_rows(tables: Tables, test_size: int | None, paper: list[PaperRow]) -> list[Table1Row]:
    ours = [r for r in tables.rows(test_size)
            if any(tables.get(test_size, d, d, k, r) for d in DOMAINS for k in tables.shots(test_size))]
    result = []
    matched = set()
    for row in ours:
        method = row.split("[")[0]
        p = next((p for p in paper if p.method and p.method == method), None)
        if p is not None:
            matched.add(p.paper_name)
        result.append(Table1Row(f"{row} (paper: {p.paper_name})" if p else row, row, p))
    for p in paper:
        if p.paper_name not in matched:
            suffix = f" ({p.method})" if p.method else ""
            result.append(Table1Row(f"paper only: {p.paper_name}{suffix}", None, p))
    return result


def _columns(tables: Tables, test_size: int | None) -> list[tuple[str, int]]:
    """(domain, K) columns: the domains this test set group has in-domain results for (a subset run
    on one domain does not get empty columns for the other)."""
    shots = tables.shots(test_size)
    domains = [d for d in DOMAINS if any(c.records for k in shots for c in tables.column(test_size, d, d, k))]
    return [(d, k) for d in domains for k in shots]


def _best(tables: Tables, test_size, domain, k) -> Cell | None:
    cells = [c for c in tables.column(test_size, domain, domain, k) if c.records]
    return max(cells, key=lambda c: c.mean) if cells else None


def _n_test_text(tables: Tables, test_size) -> str:
    parts = []
    for d in DOMAINS:
        ns = sorted({c.n_test for k in tables.shots(test_size) for c in tables.column(test_size, d, d, k) if c.records})
        if ns:
            parts.append(f"{d} {'/'.join(map(str, ns))}")
    return ", ".join(parts) or "none"


def table1_caption(tables: Tables, test_size: int | None, source: str) -> str:
    return (f"AUC x 100 on the {_subset_name(test_size)} (test samples: {_n_test_text(tables, test_size)}), "
            "trained and tested on the same domain with K shots; mean ± sample std over seeds (n = seed "
            "count; '1 seed' has no spread). Bold: best mean per column. † strongest baseline of the column; "
            "↑/↓ significantly higher/lower AUC than it by DeLong's paired test on the same test samples "
            f"(one seed's records, Holm-corrected per column, p < {ALPHA}); no mark: not significant. "
            "'not run': no record; 'n/a': the method does not apply. "
            f"Paper block: published numbers ({source}), full test sets, not recomputed.")


def _table1_values(tables: Tables, test_size: int | None, trow, cols, paper_shots: list[int],
                   latex: bool) -> list[str]:
    """One Table 1 row's cells (ours, then the paper's), shared by the Markdown and LaTeX tables."""
    values = []
    for d, k in cols:
        if trow.row is None:
            values.append("not run")
            continue
        cell = tables.get(test_size, d, d, k, trow.row)
        base = strongest_baseline(tables.column(test_size, d, d, k))
        best = _best(tables, test_size, d, k)
        values.append(cell_text(cell, bold=cell is not None and cell is best,
                                marker=_marker(cell, base, latex) if cell else "", latex=latex))
    values += [_paper_text(trow.paper.values.get((d, k)) if trow.paper else None)
               for d in DOMAINS for k in paper_shots]
    return values


def table1_markdown(tables: Tables, test_size: int | None, paper: tuple[str, list[int], list[PaperRow]]) -> str:
    source, paper_shots, prows = paper
    cols = _columns(tables, test_size)
    header = ["method"] + [f"{d} K={k}" for d, k in cols] + [f"paper {d} K={k}" for d in DOMAINS for k in paper_shots]
    lines = [f"### Table 1: in-domain AUC x 100, {_subset_name(test_size)}", "",
             table1_caption(tables, test_size, source), "",
             "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for trow in table1_rows(tables, test_size, prows):
        values = _table1_values(tables, test_size, trow, cols, paper_shots, latex=False)
        lines.append(f"| {trow.label} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("_", "\\_"), ("%", "\\%"), ("&", "\\&"), ("#", "\\#"),
                 ("[", "{[}"), ("]", "{]}")):
        text = text.replace(a, b)
    return text


def table1_latex(tables: Tables, test_size: int | None, paper: tuple[str, list[int], list[PaperRow]]) -> str:
    source, paper_shots, prows = paper
    cols = _columns(tables, test_size)
    ours_by_domain = {d: [k for dd, k in cols if dd == d] for d in DOMAINS}
    spec = "l" + "c" * len(cols) + "c" * (len(DOMAINS) * len(paper_shots))
    caption = (table1_caption(tables, test_size, source).replace("±", "$\\pm$").replace("†", "$^{\\dagger}$")
               .replace("↑/↓", "$^{\\uparrow}$/$^{\\downarrow}$").replace("x 100", "$\\times$ 100"))
    group = []
    rules = []
    start = 2
    for d in DOMAINS:
        if ours_by_domain[d]:
            group.append(f"\\multicolumn{{{len(ours_by_domain[d])}}}{{c}}{{{d}}}")
            rules.append(f"\\cmidrule(lr){{{start}-{start + len(ours_by_domain[d]) - 1}}}")
            start += len(ours_by_domain[d])
    for d in DOMAINS:
        group.append(f"\\multicolumn{{{len(paper_shots)}}}{{c}}{{paper: {d}}}")
        rules.append(f"\\cmidrule(lr){{{start}-{start + len(paper_shots) - 1}}}")
        start += len(paper_shots)
    lines = ["\\begin{table*}[t]", "\\centering", "\\small",
             f"\\caption{{{_latex_escape(caption).replace('{[}', '[').replace('{]}', ']')}}}",
             f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & " + " & ".join(group) + " \\\\", " ".join(rules),
             "method & " + " & ".join([f"K={k}" for _, k in cols] + [f"K={k}" for _ in DOMAINS for k in paper_shots])
             + " \\\\", "\\midrule"]
    for trow in table1_rows(tables, test_size, prows):
        values = _table1_values(tables, test_size, trow, cols, paper_shots, latex=True)
        lines.append(_latex_escape(trow.label) + " & " + " & ".join(values) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table*}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Per-cell statistics (intervals and tests), cross-domain table, summary


def details_markdown(tables: Tables, test_size: int | None) -> str:
    lines = [f"### Per-cell statistics, {_subset_name(test_size)}", "",
             "95% CI: percentile bootstrap over test samples (scipy.stats.bootstrap, 2000 resamples) of the "
             "record of the seed shown. Test: DeLong's paired test against the column's strongest baseline "
             "on the same test samples and seed; p (Holm) corrected over the column's comparisons; "
             "'seeds p<0.05' counts seeds where the uncorrected test is significant in the same direction.", "",
             "| train → test | K | method | AUC x 100 | seeds | CI seed | 95% CI | vs | ΔAUC x 100 | z | p | "
             "p (Holm) | seeds p<0.05 |", "|---" * 13 + "|"]
    for key in sorted((k for k in tables.cells if k[0] == test_size),
                      key=lambda k: (k[1] != k[2], k[2], k[1], k[3], _row_sort_key(k[4]))):
        cell = tables.cells[key]
        ci = f"[{100 * cell.ci[0]:.2f}, {100 * cell.ci[1]:.2f}]" if cell.ci else "—"
        comp = cell.comparison
        if comp:
            r = comp.result
            test = [comp.baseline, f"{100 * r.difference:+.2f}", f"{r.z:.2f}", f"{r.p_value:.2g}",
                    f"{comp.p_holm:.2g}", f"{comp.seeds_significant}/{comp.seeds_compared}"]
        else:
            base = strongest_baseline(tables.column(*key[:4]))
            test = ["(strongest baseline)" if base is cell else "—"] + ["—"] * 5
        mean = cell_text(cell).split(" (")[0] if cell.records else cell_text(cell)
        lines.append(f"| {cell.train} → {cell.test} | {cell.shots} | {cell.row} | {mean} | {len(cell.records)} | "
                     f"{cell.ci_seed if cell.ci_seed is not None else '—'} | {ci} | " + " | ".join(test) + " |")
    return "\n".join(lines) + "\n"


def _cross_columns(tables: Tables, test_size) -> list[tuple[str, str]]:
    pairs = {(k[1], k[2]) for k in tables.cells if k[0] == test_size}
    order = {"movie": 0, "book": 1, "both": 2}
    return sorted(pairs, key=lambda p: (order.get(p[1], 9), order.get(p[0], 9)))


def cross_domain_markdown(tables: Tables, test_size: int | None) -> str:
    pairs = _cross_columns(tables, test_size)
    lines = [f"### Cross-domain AUC x 100, {_subset_name(test_size)}", "",
             "Trained on one domain (or both: K shots from each), tested on each; mean ± std over seeds. "
             "'n/a': the method cannot score a domain it was not trained on (item ids do not carry over).", ""]
    for k in tables.shots(test_size):
        rows = [r for r in tables.rows(test_size) if any(tables.get(test_size, a, b, k, r) for a, b in pairs)]
        lines += [f"K = {k}", "", "| method | " + " | ".join(f"{a} → {b}" for a, b in pairs) + " |",
                  "|---" * (len(pairs) + 1) + "|"]
        for r in rows:
            lines.append(f"| {r} | " + " | ".join(cell_text(tables.get(test_size, a, b, k, r)) for a, b in pairs) + " |")
        lines.append("")
    return "\n".join(lines)


def cross_domain_latex(tables: Tables, test_size: int | None) -> str:
    pairs = _cross_columns(tables, test_size)
    out = []
    for k in tables.shots(test_size):
        rows = [r for r in tables.rows(test_size) if any(tables.get(test_size, a, b, k, r) for a, b in pairs)]
        out += ["\\begin{table}[t]", "\\centering", "\\small",
                f"\\caption{{Cross-domain AUC $\\times$ 100, K={k}, {_latex_escape(_subset_name(test_size))}: "
                "trained on the first domain (both: K shots from each), tested on the second; mean $\\pm$ std "
                "over seeds. n/a: not applicable.}",
                f"\\begin{{tabular}}{{l{'c' * len(pairs)}}}", "\\toprule",
                "method & " + " & ".join(f"{a} $\\to$ {b}" for a, b in pairs) + " \\\\", "\\midrule"]
        for r in rows:
            out.append(_latex_escape(r) + " & " + " & ".join(
                cell_text(tables.get(test_size, a, b, k, r), latex=True) for a, b in pairs) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out)


def summary_markdown(tables: Tables, test_size: int | None, paper: tuple[str, list[int], list[PaperRow]]) -> str:
    """Which differences are significant, in words, column by column."""
    _, _, prows = paper
    lines = [f"### Summary, {_subset_name(test_size)}", ""]
    for d in DOMAINS:
        for k in tables.shots(test_size):
            cells = [c for c in tables.column(test_size, d, d, k) if c.records]
            if not cells:
                continue
            base = strongest_baseline(cells)
            head = f"- **{d}, K={k}**"
            if base is None:
                lines.append(f"{head}: no baseline has results, so nothing is tested.")
                continue
            text = [f"{head}: the strongest baseline is {base.row} ({100 * base.mean:.2f})."]
            higher = [c for c in cells if c.comparison and c.comparison.significant and c.comparison.result.difference > 0]
            lower = [c for c in cells if c.comparison and c.comparison.significant and c.comparison.result.difference < 0]
            level = [c for c in cells if c.comparison and not c.comparison.significant]
            untested = [c for c in cells if c is not base and c.comparison is None]

            def names(cs: list[Cell]) -> str:
                return ", ".join(f"{c.row} ({100 * c.mean:.2f}, p={c.comparison.p_holm:.2g})" for c in cs)

            if higher:
                text.append(f"Significantly higher: {names(higher)}.")
            if lower:
                text.append(f"Significantly lower: {names(lower)}.")
            if level:
                text.append(f"Not significantly different: {names(level)}.")
            if untested:
                text.append(f"Not tested (no shared seed or test samples): {', '.join(c.row for c in untested)}.")
            for c in cells:
                p = next((p for p in prows if p.method and p.method == c.method), None)
                if p and (d, k) in p.values:
                    text.append(f"The paper reports {p.paper_name} at {p.values[(d, k)]:.2f}; {c.row} here: "
                                f"{100 * c.mean:.2f} ({len(c.records)} seed{'s' if len(c.records) > 1 else ''}).")
            lines.append(" ".join(text))
    missing = []
    for row in tables.rows(test_size):
        absent = [f"{d} K={k}" for d, k in _columns(tables, test_size)
                  if not (tables.get(test_size, d, d, k, row) or Cell("", "", "", "", 0, None)).records]
        single = [f"{d} K={k}" for d, k in _columns(tables, test_size)
                  if len((tables.get(test_size, d, d, k, row) or Cell("", "", "", "", 0, None)).records) == 1]
        if absent:
            missing.append(f"- {row}: no in-domain result for {', '.join(absent)}.")
        if single:
            missing.append(f"- {row}: a single seed (no spread) for {', '.join(single)}.")
    if missing:
        lines += ["", "Gaps:", *missing]
    lines.append("")
    lines.append("Significance is DeLong's paired test on one seed's records (Holm-corrected per column, "
                 f"p < {ALPHA}); it speaks to test-sample noise, not to the spread between few-shot seeds.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The plain table `bench run` prints (kept as it was)


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
    labels = row_labels(records)  # one row per method configuration, never two configurations averaged
    for r in records:
        cell = (r["train"], r["test"], labels[r["key"]], r["shots"], r.get("test_size"))
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


# ---------------------------------------------------------------------------------------------
# What each cell cost


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


def cost_markdown(records: list[dict[str, Any]]) -> str:
    """Seconds per cell and where they were measured: fit, scoring, and the cell's wall time (its scoring
    plus its share of a fit that served several test domains), mean over the cell's seeds. A fit reused
    from an earlier run shows the time recorded when it was made, marked with *."""
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
             "a shared machine makes these noisy." + (f" Every cell of {', '.join(cheap)} took under a second "
                                                       "and is not listed." if cheap else ""), "",
             "| method | train → test | test samples | K | seeds | fit s | score s | wall s | device | machine |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (row, train, test, _, shots), rs in sorted(groups.items(), key=lambda kv: (_row_sort_key(kv[0][0]), kv[0][1:])):
        fits = [_fit_seconds(r) for r in rs]
        fit_text = _mean_seconds([f for f, _ in fits]) + ("*" if any(reused for _, reused in fits) else "")
        lines.append(f"| {row} | {train} → {test} | {rs[0]['n_test']} | {shots} | {len(rs)} | {fit_text} | "
                     f"{_mean_seconds([r.get('score_seconds') for r in rs])} | "
                     f"{_mean_seconds([r.get('wall_seconds') for r in rs])} | {_distinct(rs, 'device')} | "
                     f"{_distinct(rs, 'machine')} |")
    return "\n".join(lines + [""])


# ---------------------------------------------------------------------------------------------
# Everything into one folder


def _suffix(test_size: int | None) -> str:
    return "" if test_size is None else f"_subset{test_size}"


def write_reports(store: ResultStore, out_dir: Path, *, figures: bool = True) -> list[Path]:
    """Render every report from the store into `out_dir`; returns the files written."""
    from bench import figures as figs  # matplotlib only when figures are drawn

    records = list(store.records())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = aggregate(records)
    paper = paper_rows()
    written = []
    md = ["# TALLRec benchmark report", "",
          f"Generated by `bench report` from {len(records)} records in the results store. AUC x 100 throughout.", ""]
    tex = ["% Generated by `bench report`. Needs \\usepackage{booktabs}.", ""]
    if not records:
        md.append("The results store holds no records yet: run `bench run` first.")
    for size in tables.test_sizes():
        suffix = _suffix(size)
        md += [f"## {_subset_name(size).capitalize()}", "", table1_markdown(tables, size, paper),
               summary_markdown(tables, size, paper)]
        tex += [table1_latex(tables, size, paper)]
        if figures:
            for path in figs.auc_vs_k(tables, size, out_dir / f"auc_vs_k{suffix}", paper[2]):
                written.append(path)
            md += [f"![AUC against K](auc_vs_k{suffix}.png)", ""]
        if tables.has_cross_domain(size):
            md.append(cross_domain_markdown(tables, size))
            tex.append(cross_domain_latex(tables, size))
            if figures:
                written += figs.cross_domain(tables, size, out_dir / f"cross_domain{suffix}")
                md += [f"![Cross-domain AUC](cross_domain{suffix}.png)", ""]
        md.append(details_markdown(tables, size))
    if records:
        md.append(cost_markdown(records))
    for name, text in (("report.md", "\n".join(md)), ("tables.tex", "\n".join(tex)), ("auc.md", auc_table(records))):
        (out_dir / name).write_text(text)
        written.append(out_dir / name)
    return written
