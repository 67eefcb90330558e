"""How the report draws a row: method families, one colour per method, one marker and line style per
configuration. A pure function of a test set's rows, so a row looks the same in every figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from matplotlib.colors import to_hex, to_rgb

if TYPE_CHECKING:
    from bench.report.aggregate import Tables

#: Colours by family (the `family` tag): a method takes the next colour of its family's palette, in the
#: order of the names of every installed method of that family, so a method keeps its colour in every
#: figure and colours are well apart inside a family.
FAMILY_PALETTES = {
    "training-free": ("#e377c2", "#8c564b", "#7f7f7f", "#c49c94"),
    "sequential": ("#ff7f0e", "#1f77b4", "#17becf", "#2ca02c", "#bcbd22", "#aec7e8"),
    "language-model": ("#b8860b", "#d62728", "#9467bd", "#ff9896"),
    "collaborative": ("#393b79", "#637939", "#843c39", "#7b4173", "#3182bd"),
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
    """The title of the method's family (its `family` tag; registry.FAMILIES)."""
    from bench.run import registry

    titles = dict(registry.FAMILIES)
    return titles.get(registry.tag(method, "family", "other"), titles["other"])


def family_titles() -> tuple[str, ...]:
    """Family titles in report order."""
    from bench.run import registry

    return tuple(title for _, title in registry.FAMILIES)


def _colours(methods: set[str]) -> dict[str, str]:
    """Method -> colour: its family's palette in the order of the family's installed methods' names;
    methods past the palette, or of another family, take EXTRA_COLOURS."""
    from bench.run import registry

    installed = registry.available()
    colours, extra = {}, 0
    for method in sorted(methods):
        tag = registry.tag(method, "family", "other")
        palette = FAMILY_PALETTES.get(tag, ())
        siblings = sorted(n for n, cls in installed.items() if cls.family == tag)
        i = siblings.index(method) if method in siblings else len(palette)
        if i < len(palette):
            colours[method] = palette[i]
        else:
            colours[method] = EXTRA_COLOURS[extra % len(EXTRA_COLOURS)]
            extra += 1
    return colours


def ordered_rows(tables: Tables, test_size: int | None) -> list[str]:
    """The test set's rows by family, then method, then the report's row order: a method's
    configurations stay together (gru4rec, gru4rec[...], then gru4rec-text, ...)."""
    methods = row_methods(tables, test_size)
    rows = tables.rows(test_size)
    first = {}
    for i, r in enumerate(rows):
        first.setdefault(methods[r], i)
    from bench.report.aggregate import family_rank

    return sorted(rows, key=lambda r: (family_rank(methods[r]), first[methods[r]], rows.index(r)))


def _shade(colour: str, step: int) -> str:
    """`colour` mixed with black by `step` steps (a fallback that keeps (colour, marker) pairs distinct)."""
    return to_hex(tuple(c * 0.75 ** step for c in to_rgb(colour)))


def row_styles(tables: Tables, test_size: int | None) -> dict[str, Style]:
    """Row -> Style for every row of the test set: one colour per method, one marker and line style per
    configuration of it, each (colour, marker) pair used once. A pure function of the test set's rows,
    so a row looks the same in every figure that styles rows (the cross-domain figure names them on its
    axis instead and spends colour on the training plan)."""
    methods = row_methods(tables, test_size)
    colours = _colours(set(methods.values()))
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
