"""TableCell and caption text shared by every table (Table 1, cross-domain, details), in Markdown and LaTeX,
so one cell reads the same wherever it is shown."""

from __future__ import annotations

import re

from bench.report.aggregate import TableCell


def subset_name(test_size: int | None) -> str:
    return "full test sets" if test_size is None else f"fixed {test_size}-sample test subset (not the full test set)"


def marker(cell: TableCell, base: TableCell | None, latex: bool) -> str:
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


def cell_text(cell: TableCell | None, *, bold: bool = False, marker: str = "", latex: bool = False) -> str:
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


#: Each character LaTeX reads specially, and each non-ASCII one the tables use, as text LaTeX prints as is
#: (no package beyond the standard ones): one pass, so nothing is escaped twice.
_LATEX_CHARS = {
    "\\": "\\textbackslash{}", "{": "\\{", "}": "\\}", "_": "\\_", "%": "\\%", "&": "\\&", "#": "\\#",
    "$": "\\$", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}", "[": "{[}", "]": "{]}", "<": "$<$",
    ">": "$>$", "|": "\\textbar{}", "±": "$\\pm$", "×": "$\\times$", "†": "$^{\\dagger}$", "°": "$^{\\circ}$",
    "↑": "$^{\\uparrow}$", "↓": "$^{\\downarrow}$", "→": "$\\to$", "Δ": "$\\Delta$", "—": "---", "–": "--",
}


def latex_escape(text: str) -> str:
    """Plain text (a row label, a caption) as LaTeX that prints it; `[`/`]` braced so that a row may start
    with one."""
    return "".join(_LATEX_CHARS.get(c, c) for c in text)


def latex_caption(text: str) -> str:
    """A Markdown caption as a LaTeX one: real math for ±, x 100 and the marks, each escaped once."""
    text = re.sub(r"\bx 100\b", "× 100", text.replace("*", ""))
    text = re.sub(r"(?<!\w)'([^']*)'(?!\w)", r"`\1'", latex_escape(text))  # 'quoted' with an opening quote
    return text.replace("{[}", "[").replace("{]}", "]")


def latex_label(text: str, width: int = 64) -> str:
    """A row label, escaped; one longer than `width` characters broken after its commas into as few lines
    as that takes, of even length (the later ones indented), so that a configuration's label does not make
    the table wider than a page."""
    parts = text.replace(", ", ",\0").split("\0")
    needed = max(1, -(-len(text) // width))  # lines
    for target in range(-(-len(text) // needed), len(text) + 1):  # the shortest lines that need no more
        lines = [parts[0]]
        for part in parts[1:]:
            if len(lines[-1]) + 1 + len(part) > target:
                lines.append(part)
            else:
                lines[-1] += " " + part
        if len(lines) <= needed:
            break
    if len(lines) == 1:
        return latex_escape(text)
    return "\\begin{tabular}[t]{@{}l@{}}" + "\\\\\\quad ".join(map(latex_escape, lines)) + "\\end{tabular}"


#: `\benchfit{height}{tabular}` sets the tabular as is where it fits, else scales it down (graphicx) to the
#: line width and to `height`; defined once, whichever table of tables.tex comes first.
LATEX_FIT = [
    "% \\benchfit{max height}{tabular}: the tabular, scaled down to the line width and to the height",
    "% where it is larger (needs \\usepackage{graphicx}; without it the tabular is set as is).",
    "\\ifdefined\\benchfitbox\\else\\newsavebox\\benchfitbox\\fi",
    "\\providecommand{\\benchfit}[2]{\\sbox\\benchfitbox{#2}\\ifdefined\\resizebox",
    "  \\ifdim\\wd\\benchfitbox>\\linewidth",
    "    \\sbox\\benchfitbox{\\resizebox{\\linewidth}{!}{\\usebox\\benchfitbox}}\\fi",
    "  \\ifdim\\dimexpr\\ht\\benchfitbox+\\dp\\benchfitbox\\relax>#1\\relax",
    "    \\sbox\\benchfitbox{\\resizebox*{!}{#1}{\\usebox\\benchfitbox}}\\fi",
    "  \\fi\\usebox\\benchfitbox}",
]


def latex_float(caption: str, tabular: list[str], *, caption_length: int) -> list[str]:
    """One `table*` (the width of a two-column page): `caption` (LaTeX) above `tabular` (its lines), the
    tabular scaled down by `\\benchfit` where it is wider than the page or taller than what the caption
    leaves of it (`caption_length`: the caption's printed characters, about 100 to a line)."""
    reserve = -(-caption_length // 100) + 3  # the caption's lines, its skip and a margin, in \baselineskip
    return ["\\begin{table*}[tp]", "\\centering", "\\small", f"\\caption{{{caption}}}", "\\medskip",
            f"\\benchfit{{\\dimexpr\\textheight-{reserve}\\baselineskip\\relax}}{{%", *tabular[:-1],
            tabular[-1] + "}", "\\end{table*}"]
