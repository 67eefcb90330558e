"""How the report draws a row: method families, one colour per method, one marker and line style per
configuration. A pure function of a test set's rows, so a row looks the same in every figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from matplotlib.colors import to_hex, to_rgb

if TYPE_CHECKING:
    from bench.report.aggregate import Tables

#: Method families, in the order the report lists rows; a method belongs to the first family with a
#: prefix it starts with (gru4rec-text is sequential), anything else to "other methods".
FAMILIES = (("training-free baselines", ("random", "popularity", "like-ratio")),
            ("sequential recommenders", ("gru4rec", "caser", "sasrec")),
            ("language models", ("zero-shot", "icl", "tallrec")))
OTHER_FAMILY = "other methods"

#: One colour per method, distinct over all methods (so a (colour, marker) pair names one row) and
#: well apart inside each family; a -text variant is a paler shade of its ID model's colour.
METHOD_COLOURS = {
    "random": "#7f7f7f", "popularity": "#8c564b", "like-ratio": "#e377c2",
    "gru4rec": "#1f77b4", "gru4rec-text": "#17becf", "caser": "#ff7f0e",
    "sasrec": "#2ca02c", "sasrec-text": "#bcbd22",
    "zero-shot": "#9467bd", "icl": "#b8860b", "tallrec": "#d62728",
}
EXTRA_COLOURS = ("#393b79", "#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1")
#: A method's n-th configuration (in row order) gets the n-th marker and line style. Every marker can be
#: drawn hollow, which is how a single run is shown.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "p", "h", "<", ">", "8")
LINESTYLES = ("-", "--", ":", "-.")
#: Training plans in the cross-domain figure: colour and marker (a palette apart from the methods').
PLAN_STYLES = {"movie": ("#1b9e77", "o"), "book": ("#d95f02", "s"), "both": ("#7570b3", "D")}
EXTRA_PLAN_STYLES = (("#e7298a", "^"), ("#66a61e", "v"), ("#a6761d", "P"))


@dataclass(frozen=True)
class Style:
    """How one row (method configuration) is drawn."""

    colour: str
    marker: str
    linestyle: str


def row_methods(tables: Tables, test_size: int | None) -> dict[str, str]:
    """Row label -> its method's name (from the cells, not parsed from the label)."""
    return {k[4]: c.method for k, c in tables.cells.items() if k[0] == test_size}


def family(method: str) -> str:
    """The method family a method belongs to (see FAMILIES)."""
    return next((name for name, prefixes in FAMILIES if method.startswith(prefixes)), OTHER_FAMILY)


FAMILY_NAMES = tuple(name for name, _ in FAMILIES) + (OTHER_FAMILY,)


def ordered_rows(tables: Tables, test_size: int | None) -> list[str]:
    """The test set's rows by family, then method, then the report's row order: a method's
    configurations stay together (gru4rec, gru4rec[...], then gru4rec-text, ...)."""
    methods = row_methods(tables, test_size)
    rows = tables.rows(test_size)
    first = {}
    for i, r in enumerate(rows):
        first.setdefault(methods[r], i)
    return sorted(rows, key=lambda r: (FAMILY_NAMES.index(family(methods[r])), first[methods[r]], rows.index(r)))


def _shade(colour: str, step: int) -> str:
    """`colour` mixed with black by `step` steps (a fallback that keeps (colour, marker) pairs distinct)."""
    return to_hex(tuple(c * 0.75 ** step for c in to_rgb(colour)))


def row_styles(tables: Tables, test_size: int | None) -> dict[str, Style]:
    """Row -> Style for every row of the test set: one colour per method, one marker and line style per
    configuration of it, each (colour, marker) pair used once. A pure function of the test set's rows,
    so a row looks the same in every figure that styles rows (the cross-domain figure names them on its
    axis instead and spends colour on the training plan)."""
    methods = row_methods(tables, test_size)
    unknown = sorted({m for m in methods.values() if m not in METHOD_COLOURS})
    colours = dict(METHOD_COLOURS)
    colours.update({m: EXTRA_COLOURS[i % len(EXTRA_COLOURS)] for i, m in enumerate(unknown)})
    variants: dict[str, int] = {}
    used: set[tuple[str, str]] = set()
    styles = {}
    for row in ordered_rows(tables, test_size):
        method = methods[row]
        n = variants.get(method, 0)
        variants[method] = n + 1
        i = n
        while True:
            colour = _shade(colours[method], i // len(MARKERS))
            if (colour, MARKERS[i % len(MARKERS)]) not in used:
                break
            i += 1
        used.add((colour, MARKERS[i % len(MARKERS)]))
        styles[row] = Style(colour, MARKERS[i % len(MARKERS)], LINESTYLES[n % len(LINESTYLES)])
    return styles
