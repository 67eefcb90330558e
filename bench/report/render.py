"""Rendering: paper-style reports from the results store alone, a pure function of the records.

This module holds Table 1, the answer in words, the gaps, the per-cell details, the audit section and
the plain `auc.md` table, and `write_reports` assembles them. What other tables and the figures share
lives apart so that each can be read alone: the paper's published numbers (paper.py), the cell and
caption text (text.py) and the cross-domain tables (cross_domain.py); none of them imports this one.

`write_reports` renders into one folder:
  summary.md       the answer (summary.py): per test set and K, the bar, the strongest featured method
                   and language model against it, the resolution and a verdict; summary.png (summary_figure.py)
  report.md        the answer first, every row against the bar in words, Table 1 (in-domain AUC x 100),
                   the cross-domain table, whether tuning beats the untuned model (tuning_gain.py)
  details.md       the statistics described once, per-cell intervals, UAUC and paired tests, the test
                   subsets, the test sets' audit, and the compute cost per cell
  index.html       the three on one self-contained page (html.py)
  tables.tex       the tables in LaTeX (booktabs; graphicx scales a table to the page)
  auc_vs_k.*, cross_domain.*   figures (PNG and PDF), see bench/report/figures.py
  auc.md           the plain per-(train -> test) table that `bench run` prints

Statistics (bench/report/statistics.py, applied in bench/report/aggregate.py): samples of one user are not independent,
so intervals and tests resample users. A cell's interval is that of its mean over runs (seeds), by a
two-level bootstrap of users and seeds; a method whose seeds give identical scores is one run. Each
cell is compared with the column's strongest training-free baseline by a paired cluster bootstrap
of the difference of means, Holm-corrected over the column. Records with different test subsets
(`test_size`) never share a table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.report.aggregate import (
    ALPHA,
    STATISTICS_TEXT,
    TableCell,
    Tables,
    _row_sort_key,
    aggregate,
    resolution,
    row_labels,
    strongest_baseline,
)
from bench.report.costs import cost_markdown
from bench.report.cross_domain import cross_domain_latex, cross_domain_markdown
from bench.report.labels import short_label, table_labels
from bench.report.paper import PaperRow, paper_block, paper_rows, paper_text
from bench.report.protocol import protocol_markdown
from bench.report.summary import Feature, summary_markdown
from bench.report.text import (
    LATEX_FIT,
    cell_text,
    interval_text,
    latex_caption,
    latex_escape,
    latex_float,
    latex_label,
    marker,
    subset_name,
)
from bench.report.tuning_gain import tuning_gain_markdown
from bench.run.store import ResultStore

# ---------------------------------------------------------------------------------------------
# Table 1 (in-domain)


def _columns(tables: Tables, test_size: int | None) -> list[tuple[str, int]]:
    """(domain, K) columns: the domains this test set group has in-domain results for (a subset run
    on one domain does not get empty columns for the other)."""
    shots = tables.shots(test_size)
    domains = [d for d in tables.domains() if any(c.records for k in shots for c in tables.column(test_size, d, d, k))]
    return [(d, k) for d in domains for k in shots]


def _in_domain_rows(tables: Tables, test_size: int | None) -> list[str]:
    return [r for r in tables.rows(test_size)
            if any(tables.get(test_size, d, d, k, r) for d in tables.domains() for k in tables.shots(test_size))]


def _is_best(tables: Tables, test_size, domain, k, cell: TableCell | None) -> bool:
    """Whether `cell` shows the column's highest mean at the shown precision (ties: all of them bold,
    never the one the store happened to list first)."""
    means = [f"{100 * c.mean:.2f}" for c in tables.column(test_size, domain, domain, k) if c.records]
    return cell is not None and bool(cell.records) and f"{100 * cell.mean:.2f}" == max(means, key=float)


def _test_set_text(tables: Tables, test_size, domain: str) -> str:
    """`1000 samples from 16 users` for a domain's in-domain cells of this test set group."""
    cells = [c for k in tables.shots(test_size) for c in tables.column(test_size, domain, domain, k) if c.records]
    if not cells:
        return ""
    samples = "/".join(map(str, sorted({c.n_test for c in cells})))
    users = sorted({c.n_users for c in cells if c.n_users})
    if not users:
        return f"{samples} samples (users not recorded: intervals and tests resample samples)"
    unknown = sum(1 for c in cells if not c.n_users)
    # A record written before users were stored is resampled per sample, which overstates certainty.
    caveat = f" ({unknown} cells without recorded users resample samples)" if unknown else ""
    if all(c.n_users == c.n_test for c in cells if c.n_users):
        return f"{samples} samples, one per user{caveat}"
    return f"{samples} samples from {'/'.join(map(str, users))} users{caveat}"


def _test_sets_text(tables: Tables, test_size) -> str:
    parts = [f"{d}: {text}" for d in tables.domains() if (text := _test_set_text(tables, test_size, d))]
    return "; ".join(parts) or "none"


def table1_caption(tables: Tables, test_size: int | None, source: str) -> str:
    paper = (f" Paper rows: published numbers ({source}), full test sets, LLaMA-7B for TALLRec; not recomputed, "
             "not comparable with a row computed here on another model." if test_size is None else
             " The paper's numbers are for the full test sets and are not shown beside a subset.")
    return (f"AUC x 100 on the {subset_name(test_size)} ({_test_sets_text(tables, test_size)}), trained and "
            "tested on the same domain with K shots; mean ± sample std over seeds (n = distinct runs; '1 run': "
            "one seed, or seeds with identical scores). Bold: best mean per column (each of a tie). † strongest "
            "training-free baseline of the column; ↑/↓ significantly higher/lower mean AUC than it (paired "
            f"cluster bootstrap over users, Holm-corrected per column, p < {ALPHA}); no mark: not significant; "
            "° not tested (no training-free baseline in the column, or other test samples than it). "
            "Rows name the settings away from their method's defaults. 'not run': no record; 'n/a': the method "
            "does not apply." + paper + " " + table_labels(tables, test_size)[1]).rstrip()


def _our_values(tables: Tables, test_size: int | None, row: str, cols, latex: bool) -> list[str]:
    values = []
    for d, k in cols:
        cell = tables.get(test_size, d, d, k, row)
        base = strongest_baseline(tables.column(test_size, d, d, k))
        values.append(cell_text(cell, bold=_is_best(tables, test_size, d, k, cell),
                                marker=marker(cell, base, latex) if cell else "", latex=latex))
    return values


def table1_markdown(tables: Tables, test_size: int | None, paper: tuple[str, list[int], list[PaperRow]]) -> str:
    source, _, prows = paper
    cols = _columns(tables, test_size)
    header = ["method"] + [f"{d} K={k}" for d, k in cols]
    lines = [f"### Table 1: in-domain AUC x 100, {subset_name(test_size)}", "",
             table1_caption(tables, test_size, source), "",
             "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    labels = table_labels(tables, test_size)[0]
    for row in _in_domain_rows(tables, test_size):
        lines.append(f"| {labels[row]} | " + " | ".join(_our_values(tables, test_size, row, cols, latex=False))
                     + " |")
    block = paper_block(test_size, prows)
    if block:
        lines.append("| *published in the paper (not computed here)* |" + " |" * len(cols))
        for p in block:
            lines.append(f"| {p.label} | " + " | ".join(paper_text(p.values.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def table1_latex(tables: Tables, test_size: int | None, paper: tuple[str, list[int], list[PaperRow]]) -> str:
    """Table 1 in LaTeX: one `table*` per test domain (its K columns, the rows that have a cell there, the
    paper's rows where it published numbers for the domain), so that each fits a two-column page; see
    `latex_float` for what is scaled down."""
    source, _, prows = paper
    cols = _columns(tables, test_size)
    caption = table1_caption(tables, test_size, source)
    out = list(LATEX_FIT)
    for d in dict.fromkeys(dd for dd, _ in cols):
        out += ["", *_table1_latex_domain(tables, test_size, d, [c for c in cols if c[0] == d], caption,
                                          paper_block(test_size, prows))]
    return "\n".join(out) + "\n"


def _table1_latex_domain(tables: Tables, test_size: int | None, domain: str, cols: list[tuple[str, int]],
                         caption: str, block: list[PaperRow]) -> list[str]:
    """One test domain's Table 1 `table*`: the caption names this domain's test set only."""
    block = [p for p in block if any(p.values.get(c) is not None for c in cols)]
    caption = caption.replace(f"({_test_sets_text(tables, test_size)})",
                              f"({domain}: {_test_set_text(tables, test_size, domain)})", 1)
    if not block:
        caption = caption.split(" Paper rows:")[0]  # nothing the paper published for this domain
    tabular = [f"\\begin{{tabular}}{{l{'c' * len(cols)}}}", "\\toprule",
               f" & \\multicolumn{{{len(cols)}}}{{c}}{{{latex_escape(domain)}}} \\\\",
               f"\\cmidrule(lr){{2-{len(cols) + 1}}}",
               "method & " + " & ".join(f"K={k}" for _, k in cols) + " \\\\", "\\midrule"]
    labels = table_labels(tables, test_size)[0]
    for row in _in_domain_rows(tables, test_size):
        if any(tables.get(test_size, d, d, k, row) for d, k in cols):
            values = _our_values(tables, test_size, row, cols, True)
            tabular.append(latex_label(labels[row]) + " & " + " & ".join(values) + " \\\\")
    if block:
        tabular += ["\\midrule", f"\\multicolumn{{{len(cols) + 1}}}{{l}}"
                    "{\\emph{published in the paper (not computed here)}} \\\\"]
        for p in block:
            tabular.append(latex_label(p.label) + " & "
                           + " & ".join(latex_escape(paper_text(p.values.get(c))) for c in cols) + " \\\\")
    tabular += ["\\bottomrule", "\\end{tabular}"]
    return latex_float(latex_caption(caption), tabular, caption_length=len(caption))


# ---------------------------------------------------------------------------------------------
# Per-cell statistics (intervals and tests), summary


def details_markdown(tables: Tables, test_size: int | None) -> str:
    lines = [f"### Per-cell statistics, {subset_name(test_size)}", "",
             "Statistics: see [Statistics](#statistics). UAUC: the mean of per-user AUCs over the users who have both "
             "labels (their "
             "count in brackets), mean over runs; not defined where every user has one sample (book).", "",
             "| train → test | K | method | AUC x 100 | runs (seeds) | 95% interval | UAUC x 100 (users) | vs | "
             "ΔAUC x 100 | 95% interval of Δ | p | p (Holm) | resolution |", "|---" * 13 + "|"]
    labels, note = table_labels(tables, test_size)
    if note:
        lines.insert(3, note + "\n")
    for key in sorted((k for k in tables.cells if k[0] == test_size),
                      key=lambda k: (k[1] != k[2], k[2], k[1], k[3], _row_sort_key(k[4]))):
        cell = tables.cells[key]
        comp = cell.comparison
        if comp:
            r = comp.result
            test = [comp.baseline, f"{100 * r.difference:+.2f}", f"[{100 * r.low:+.2f}, {100 * r.high:+.2f}]",
                    f"{r.p_value:.2g}", f"{comp.p_holm:.2g}", f"{100 * comp.resolution:.1f}"]
        else:
            base = strongest_baseline(tables.column(*key[:4]))
            test = ["(strongest training-free)" if base is cell else "—"] + ["—"] * 5
        mean = f"{100 * cell.mean:.2f}" if cell.records else cell_text(cell)
        u = f"{100 * cell.uauc[0]:.2f} ({cell.uauc[1]})" if cell.uauc and cell.uauc[1] else "—"
        runs = f"{len(cell.runs)} ({len(cell.records)})" if cell.records else "0"
        lines.append(f"| {cell.train} → {cell.test} | {cell.shots} | {labels[cell.row]} | {mean} | {runs} | "
                     f"{interval_text(cell.interval)} | {u} | " + " | ".join(test) + " |")
    return "\n".join(lines) + "\n"


def _names(cells: list[TableCell]) -> str:
    return "; ".join(f"{short_label(c)} ({100 * c.mean:.2f}, Δ {100 * c.comparison.result.difference:+.2f})"
                     for c in cells)


def answer_markdown(tables: Tables, test_size: int | None) -> str:
    """In words, per domain and K: the bar, what is significantly above it by the user-level test, and
    how many rows are level with it, below it or untested; p-values stay in the detail table."""
    lines = [f"### Every row against the bar ({subset_name(test_size)})", ""]
    for d in tables.domains():
        columns = [(k, [c for c in tables.column(test_size, d, d, k) if c.records]) for k in tables.shots(test_size)]
        columns = [(k, cells) for k, cells in columns if cells]
        if not columns:
            continue
        lines.append(f"- **{d}** ({_test_set_text(tables, test_size, d)}):")
        for k, cells in columns:
            base = strongest_baseline(cells)
            if base is None:
                lines.append(f"  - K={k}: no training-free baseline has results, so nothing is tested.")
                continue
            tested = [c for c in cells if c.comparison]
            above = [c for c in tested if c.comparison.significant and c.comparison.result.difference > 0]
            below = sum(c.comparison.significant and c.comparison.result.difference < 0 for c in tested)
            untested = sum(c is not base and c.comparison is None for c in cells)
            res = resolution(cells)
            text = [f"  - K={k}: the bar is {short_label(base)} at {100 * base.mean:.2f}"
                    + (f" (resolution {100 * res:.1f} points)." if not math.isnan(res) else "."),
                    f"Significantly above it: {_names(above)}." if above else "Nothing is significantly above it.",
                    f"{len(tested) - len(above) - below} level with it, {below} significantly below"
                    + (f", {untested} not tested (other test samples than the bar)." if untested else ".")]
            lines.append(" ".join(text))
    lines += ["", "Statistics: [details.md](details.md#statistics); per-cell intervals and p-values: "
              f"[details.md](details.md#per-cell-statistics-{subset_name(test_size).split(' (')[0].replace(' ', '-')})."
              .replace("-(", "-"), ""]
    return "\n".join(lines)


def gaps_markdown(tables: Tables, test_size: int | None) -> str:
    missing = []
    for row in _in_domain_rows(tables, test_size):
        cells = {(d, k): tables.get(test_size, d, d, k, row) for d, k in _columns(tables, test_size)}
        absent = [f"{d} K={k}" for (d, k), c in cells.items() if c is None or not c.records]
        single = [f"{d} K={k}" for (d, k), c in cells.items()
                  if c is not None and len(c.records) == 1]
        if absent:
            missing.append(f"- {row}: no in-domain result for {', '.join(absent)}.")
        if single:
            missing.append(f"- {row}: a single seed for {', '.join(single)}.")
    return "\n".join(["Gaps:", *missing, ""]) if missing else ""


def audit_markdown(tables: Tables) -> str:
    from bench.data.audit import audit_markdown as render

    if not tables.audits:
        return ""
    return "\n\n".join(["## The test sets", *(render(facts) for _, facts in sorted(tables.audits.items()))]) + "\n"


# ---------------------------------------------------------------------------------------------
# The plain table `bench run` prints


def _cell_text(runs: dict[tuple, float], not_applicable: bool) -> str:
    """runs: distinct score vectors -> AUC (seeds with identical scores are one run)."""
    if not runs:
        return "n/a" if not_applicable else "missing"
    aucs = list(runs.values())
    mean = 100 * float(np.mean(aucs))
    if len(aucs) == 1:
        return f"{mean:.2f} (1 run)"
    return f"{mean:.2f} ± {100 * float(np.std(aucs, ddof=1)):.2f} (n={len(aucs)})"


def auc_table(records: list[dict[str, Any]]) -> str:
    """Markdown: AUC x 100, mean ± sample std over distinct runs, one table per (train -> test) pair."""
    aucs: dict[tuple, dict[tuple, float]] = defaultdict(dict)
    na: set[tuple] = set()
    labels = row_labels(records)  # one row per method configuration, never two configurations averaged
    for r in records:
        cell = (r["train"], r["test"], labels[r["key"]], r["shots"], r.get("test_size"))
        if r["status"] == "ok":
            aucs[cell][(tuple(r["sample_ids"]), tuple(r["scores"]))] = r["auc"]
        else:
            na.add(cell)
    cells = set(aucs) | na
    lines = ["# AUC x 100 (mean ± std over seeds; '1 run': one seed, or seeds with identical scores)", ""]
    for train, test, test_size in sorted({(c[0], c[1], c[4]) for c in cells}, key=str):
        shots = sorted({c[3] for c in cells if (c[0], c[1], c[4]) == (train, test, test_size)})
        methods = sorted({c[2] for c in cells if (c[0], c[1], c[4]) == (train, test, test_size)})
        subset = "full test set" if test_size is None else f"fixed {test_size}-sample test subset"
        lines += [f"## train {train} -> test {test} ({subset})", "",
                  "| method | " + " | ".join(f"K={k}" for k in shots) + " |",
                  "|---|" + "---|" * len(shots)]
        for method in methods:
            row = [_cell_text(aucs.get((train, test, method, k, test_size), {}),
                              (train, test, method, k, test_size) in na) for k in shots]
            lines.append(f"| {method} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Everything into one folder


def _suffix(test_size: int | None) -> str:
    return "" if test_size is None else f"_subset{test_size}"


def write_reports(store: ResultStore, out_dir: Path, *, figures: bool = True, features: list[Feature] | None = None,
                  readme: Path | None = None) -> list[Path]:
    """Render every report from the store into `out_dir`; returns the files written. summary.md is the
    answer; report.md leads with it, then Table 1, cross-domain and tuning; details.md holds per-cell
    statistics, subsets, audits and costs; index.html is all three on one page. `features`: the
    configurations summary.md shows besides each method's defaults; `readme`: a file whose text between
    the summary markers is replaced by the summary."""
    from bench.report.html import write_index

    records = list(store.records())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = aggregate(records)
    tables.audits = _audits_of(store, records)
    header = f"Generated by `bench report` from {len(records)} records. AUC x 100 throughout."
    empty = [] if records else ["The results store holds no records yet: run `bench run` first.", ""]
    written = []
    if figures:
        from bench.report.summary_figure import summary_figure

        written += summary_figure(tables, features or [], out_dir / "summary")
    picture = ["![Each featured method against the bar](summary.png)", ""] if written else []
    summary = "\n".join(["# Does an LLM recommender beat the baselines, really?", "", header, "", *empty,
                          *(summary_markdown(tables, size, features or []) for size in tables.test_sizes()),
                          *picture])
    md = ["# TALLRec benchmark report", "", header + " Per-cell statistics, test subsets, the test sets' audits "
          "and costs: [details.md](details.md); how intervals and tests are computed: "
          "[details.md, Statistics](details.md#statistics).", "", *empty]
    details = ["# Details", "", header, "", "## Statistics", "", STATISTICS_TEXT, ""]
    tex = ["% Generated by `bench report`. Needs \\usepackage{booktabs} and \\usepackage{graphicx} (which scales a "
           "table to the page).", ""]
    for size in tables.test_sizes():
        section = _results_section(tables, size, features or [], out_dir, figures, written, tex)
        (md if size is None else details).extend(section)
        details += [gaps_markdown(tables, size), details_markdown(tables, size)]
    details.append(audit_markdown(tables))
    if records:
        shown = {row: label for size in tables.test_sizes() for row, label in table_labels(tables, size)[0].items()}
        details.append(cost_markdown(records, shown))
    for name, text in (("summary.md", summary), ("report.md", "\n".join(md)), ("details.md", "\n".join(details)),
                       ("tables.tex", "\n".join(tex)), ("auc.md", auc_table(records))):
        (out_dir / name).write_text(text)
        written.append(out_dir / name)
    written.append(write_index(out_dir, ["summary.md", "report.md", "details.md"]))
    if readme is not None:  # the full test sets' answer; subsets stay in summary.md
        full = summary_markdown(tables, None, features or []) if None in tables.test_sizes() else summary
        written.append(write_between_markers(readme, full + "\nThe answer on test subsets, and the figure: "
                                             "[reports/summary.md](reports/summary.md).\n"))
    return written


def _results_section(tables: Tables, size: int | None, features: list[Feature], out_dir: Path, figures: bool,
                     written: list[Path], tex: list[str]) -> list[str]:
    """One test-set group's answer, Table 1, figures, cross-domain and tuning sections (markdown); its
    LaTeX tables go to `tex` and its figure files to `written`."""
    paper, suffix = paper_rows(), _suffix(size)
    md = [f"## {subset_name(size).capitalize()}", "", summary_markdown(tables, size, features),
          answer_markdown(tables, size), table1_markdown(tables, size, paper)]
    tex.append(table1_latex(tables, size, paper))
    if figures:
        from bench.report import figures as figs  # matplotlib (2 s to import) only when figures are drawn

        written += figs.auc_vs_k(tables, size, out_dir / f"auc_vs_k{suffix}", paper[2])
        md += [f"![AUC against K](auc_vs_k{suffix}.png)", ""]
        if size is None:
            from bench.report.cost_frontier import cost_frontier

            if frontier := cost_frontier(tables, out_dir / "cost_frontier"):
                written += frontier
                md += ["### What a point of AUC costs", "", "Each configuration's mean AUC against its fit plus "
                       "scoring seconds per 1000 test samples, on the machine that ran it; the dashed line is the "
                       "Pareto front. The cost per cell is in [details.md](details.md#compute-cost-per-cell).", "",
                       "![AUC against cost](cost_frontier.png)", ""]
    if tables.has_cross_domain(size):
        md.append(cross_domain_markdown(tables, size))
        tex.append(cross_domain_latex(tables, size))
        if figures:
            from bench.report import figures as figs

            written += figs.cross_domain(tables, size, out_dir / f"cross_domain{suffix}")
            md += [f"![Cross-domain AUC](cross_domain{suffix}.png)", ""]
    if gain := tuning_gain_markdown(tables, size):
        md.append(gain)
    if size is None and (protocol := protocol_markdown(tables)):
        md.append(protocol)
    return md


SUMMARY_START, SUMMARY_END = "<!-- summary: generated by bench report -->", "<!-- summary end -->"


def write_between_markers(path: Path, text: str) -> Path:
    """Replace what lies between the summary markers in `path` (a README) with `text`, headings pushed
    one level down; a one-line error if the markers are missing."""
    content = Path(path).read_text()
    start, end = content.find(SUMMARY_START), content.find(SUMMARY_END)
    if start < 0 or end < start:
        raise BenchError(f"--readme {path}: no `{SUMMARY_START}` ... `{SUMMARY_END}` markers; add them where the "
                         "summary belongs")
    body = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
    Path(path).write_text(content[: start + len(SUMMARY_START)] + "\n" + body.strip() + "\n" + content[end:])
    return Path(path)


def _audits_of(store: ResultStore, records: list[dict[str, Any]]) -> dict[str, dict]:
    """The stored audits of the test sets the records were scored on (by domain and fingerprint)."""
    wanted = {(r["test"], ((r.get("data") or {}).get(r["test"]) or {}).get("fingerprints", {}).get("test"))
              for r in records}
    return {domain: facts for (domain, fp), facts in store.audits().items() if (domain, fp) in wanted}
