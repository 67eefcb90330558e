"""The cross-domain tables, for the paper's question of whether training on one domain carries over to the
other: in Markdown one per K with a column per (train -> test) pair; in LaTeX one per K and test domain
(at most three training plans, so it fits a two-column page)."""

from __future__ import annotations

from bench.report.aggregate import Tables
from bench.report.labels import table_labels
from bench.report.text import (
    LATEX_FIT,
    cell_text,
    latex_caption,
    latex_escape,
    latex_float,
    latex_label,
    subset_name,
)


def _cross_columns(tables: Tables, test_size) -> list[tuple[str, str]]:
    pairs = {(k[1], k[2]) for k in tables.cells if k[0] == test_size}
    order = {"movie": 0, "book": 1, "both": 2}
    return sorted(pairs, key=lambda p: (order.get(p[1], 9), p[1], order.get(p[0], 9), p[0]))


def cross_domain_markdown(tables: Tables, test_size: int | None) -> str:
    pairs = _cross_columns(tables, test_size)
    lines = [f"### Cross-domain AUC x 100, {subset_name(test_size)}", "",
             "Trained on one domain (or both: K shots from each), tested on each; mean ± std over seeds "
             "(n = distinct runs). 'n/a': the method cannot score a domain it was not trained on (item ids do "
             "not carry over). " + table_labels(tables, test_size)[1], ""]
    labels = table_labels(tables, test_size)[0]
    for k in tables.shots(test_size):
        rows = [r for r in tables.rows(test_size) if any(tables.get(test_size, a, b, k, r) for a, b in pairs)]
        lines += [f"K = {k}", "", "| method | " + " | ".join(f"{a} → {b}" for a, b in pairs) + " |",
                  "|---" * (len(pairs) + 1) + "|"]
        for r in rows:
            lines.append(f"| {labels[r]} | " + " | ".join(cell_text(tables.get(test_size, a, b, k, r)) for a, b in pairs)
                         + " |")
        lines.append("")
    return "\n".join(lines)


def cross_domain_latex(tables: Tables, test_size: int | None) -> str:
    """One `table*` per K and test domain (a column per training domain: at most three, so that it fits a
    two-column page; see `latex_float`). A test domain no other domain was trained for has no
    cross-domain column and no table here: its in-domain cells are Table 1's."""
    pairs = _cross_columns(tables, test_size)
    tests = [t for t in dict.fromkeys(b for _, b in pairs) if any(a != t for a, b in pairs if b == t)]
    out = list(LATEX_FIT)
    labels, note = table_labels(tables, test_size)
    for k in tables.shots(test_size):
        for t in tests:
            cols = [(a, b) for a, b in pairs if b == t]
            rows = [r for r in tables.rows(test_size)
                    if any(tables.get(test_size, a, b, k, r) for a, b in cols)]
            if not rows:
                continue
            caption = (f"Cross-domain AUC x 100, K={k}, tested on {t}, {subset_name(test_size)}: trained on "
                       "the first domain (both: K shots from each), tested on the second; mean ± std over "
                       f"seeds. n/a: not applicable. {note}").rstrip()
            header = " & ".join(f"{latex_escape(a)} $\\to$ {latex_escape(b)}" for a, b in cols)
            tabular = [f"\\begin{{tabular}}{{l{'c' * len(cols)}}}", "\\toprule", f"method & {header} \\\\",
                       "\\midrule"]
            for r in rows:
                values = [cell_text(tables.get(test_size, a, b, k, r), latex=True) for a, b in cols]
                tabular.append(latex_label(labels[r]) + " & " + " & ".join(values) + " \\\\")
            tabular += ["\\bottomrule", "\\end{tabular}"]
            out += ["", *latex_float(latex_caption(caption), tabular, caption_length=len(caption))]
    return "\n".join(out) + "\n"
