"""Cell and caption text shared by every table (Table 1, cross-domain, details), in Markdown and LaTeX,
so one cell reads the same wherever it is shown."""

from __future__ import annotations

from bench.report.aggregate import Cell


def subset_name(test_size: int | None) -> str:
    return "full test sets" if test_size is None else f"fixed {test_size}-sample test subset (not the full test set)"


def marker(cell: Cell, base: Cell | None, latex: bool) -> str:
    """† the column's baseline; ↑/↓ significantly above/below it; ° never compared with it (no
    training-free baseline in the column, or its runs scored other test samples); none: not significant."""
    if base is not None and cell is base:
        return "$^{\\dagger}$" if latex else "†"
    if cell.comparison is None:
        return ("$^{\\circ}$" if latex else "°") if cell.records else ""
    if not cell.comparison.significant:
        return ""
    up = cell.comparison.result.difference > 0
    if latex:
        return "$^{\\uparrow}$" if up else "$^{\\downarrow}$"
    return "↑" if up else "↓"


def cell_text(cell: Cell | None, *, bold: bool = False, marker: str = "", latex: bool = False) -> str:
    """`mean ± std (n=seeds)` in AUC x 100; `1 run` for one seed or seeds with identical scores; `n/a` or
    `not run` instead of inventing numbers."""
    if cell is None:
        return "not run"
    if not cell.records:
        return "n/a" if cell.not_applicable else "not run"
    mean = f"{100 * cell.mean:.2f}"
    if bold:
        mean = f"\\textbf{{{mean}}}" if latex else f"**{mean}**"
    pm = "$\\pm$" if latex else "±"
    spread = " (1 run)" if len(cell.runs) == 1 else f" {pm} {100 * cell.std:.2f} (n={len(cell.runs)})"
    return f"{mean}{spread}{marker}"


def interval_text(interval: tuple[float, float] | None) -> str:
    return f"[{100 * interval[0]:.2f}, {100 * interval[1]:.2f}]" if interval else "—"


def latex_escape(text: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("_", "\\_"), ("%", "\\%"), ("&", "\\&"), ("#", "\\#"),
                 ("[", "{[}"), ("]", "{]}")):
        text = text.replace(a, b)
    return text


def latex_caption(text: str) -> str:
    text = (text.replace("±", "$\\pm$").replace("†", "$^{\\dagger}$")
            .replace("↑/↓", "$^{\\uparrow}$/$^{\\downarrow}$").replace("°", "$^{\\circ}$")
            .replace("x 100", "$\\times$ 100").replace("*", ""))
    return latex_escape(text).replace("{[}", "[").replace("{]}", "]")
