"""AUC against cost: what a point of AUC costs, and which method configurations are worth their compute.

A table ranks methods by AUC alone, so a configuration that gains half a point for a thousand times the
compute looks like a win. This figure puts the price beside the gain: for each in-domain test set (full
test set, trained and tested on one domain), one panel of mean AUC x 100 (`TableCell.mean`) against the cell's
compute, on a log axis, and the Pareto front through it: the configurations that no other one beats on
both counts (at most the same cost and at least the same AUC, better on one). Whatever lies below and to
the right of the front buys less AUC for more compute than something already drawn.

The cost of a cell (bench/report/costs.py: `cell_cost`, `cost_column`) is its fit plus scoring seconds per 1000 test samples,
mean over its seeds, as measured on the machine that ran it:
  * a fit reused from an earlier run (a kept tallrec adapter) counts the training time recorded when it
    was made (`method_extra.train_seconds`), as the cost table does (bench/report/costs.py);
  * a record that says it reused cached scores (`method_extra.reused_scores`, as zero-shot keeps them)
    has its scoring time scaled up to the whole test set; one that reused every score measured nothing
    and is left out of its cell's mean, and a cell of such records alone is not drawn (the caption counts
    them). Work cached by an earlier cell that a record does not report (a hybrid reusing an LM's scores)
    is not counted: such a cell looks as cheap as it was to run;
  * per 1000 test samples so that test sets of different sizes share one axis; a fit is a fixed cost, so
    on a small test set the per-sample price of a trained method is higher;
  * costs below COST_FLOOR (0.01 s per 1000 samples, 10 us a sample: timer noise and interpreter overhead,
    not compute) are drawn at the floor and the front is computed on the clipped costs, so a training-free
    method costing ~0 s is drawn at the left edge, and is not on the front merely for being a millisecond
    cheaper than a better one;
  * API dollars (an `icl` record's `method_extra.cost_usd`, priced by bench/prices.toml, for every
    request whether or not it was answered from the cache) are a separate price: where a drawn cell has
    them, its point is annotated with dollars per 1000 test samples; where none does, the caption says so.

What is drawn: one point per (row, K), not one per row averaged over K. The AUC of a trained method moves
with K (din, stack and tallrec gain several points from 16 to 256 shots) and so can its fit; an average
over K is a point no run ever reached, and it would hide that a method's K=64 cell can beat its own
K=256 one on both counts. K is the marker's size (a K-blind method draws its points on one level);
colour is the method (`styles.row_styles`, as in the other figures); the marker's shape is the machine
the cell ran on (the records' `machine` strings are named in the legend), with a star for a cell whose
seeds ran on different machines, so costs measured on different hardware are never mistaken for each
other. Points on the front are drawn opaque with a dark edge and labelled with a short row label (the
method and its non-default settings) and K; the front itself is a staircase. The other points are faded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from bench.report.costs import CellCost, cell_cost, in_domain  # noqa: E402
from bench.report.labels import MAX_LABEL, table_labels  # noqa: E402
from bench.report.styles import ordered_rows, row_styles  # noqa: E402

if TYPE_CHECKING:
    from bench.report.aggregate import TableCell, Tables

#: Seconds per 1000 test samples below which costs are drawn (and compared on the front) as equal.
COST_FLOOR = 0.01
DPI = 150
MAX_PIXELS = 2000  # no side of the PNG is longer
CHANCE = 50.0
CHANCE_COLOUR = "#8c8c8c"
FRONT_COLOUR = "#333333"
X_LABEL = "fit + scoring seconds per 1000 test samples (log scale)"
#: The marker of each machine, in order of first appearance; a cell whose seeds ran on several: a star.
MACHINE_MARKERS = ("o", "s", "^", "D", "v", "P", "h", "<", ">", "p")
MIXED_MARKER = "*"
#: Marker size (points) by K's rank among the test sets' K values.
K_SIZES = (5.0, 7.5, 10.5, 13.0)


# ---------------------------------------------------------------------------------------------
# Costs


# ---------------------------------------------------------------------------------------------
# The front


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (cost, auc) points no other point beats on both: none has a cost at most its own
    and an AUC at least its own, better on one. Equal points are all on the front. In input order."""
    front = []
    for i, (cost, auc) in enumerate(points):
        beaten = any(c <= cost and a >= auc and (c < cost or a > auc)
                     for j, (c, a) in enumerate(points) if j != i)
        if not beaten:
            front.append(i)
    return front


@dataclass(frozen=True)
class Point:
    """One (row, K) cell of a panel."""

    row: str
    shots: int
    auc: float  # mean AUC x 100
    cost: CellCost
    cell: TableCell

    @property
    def drawn_cost(self) -> float:
        return max(self.cost.seconds, COST_FLOOR)


@dataclass
class Panel:
    """One test set's points, which of them are on the front, and the cells that could not be drawn."""

    test: str
    points: list[Point]
    front: list[Point]
    unmeasured: list[TableCell]


def panels(tables: Tables, test_size: int | None = None) -> list[Panel]:
    """One panel per in-domain test set with a cell whose cost is known, in the report's domain order;
    the front computed on costs clipped at COST_FLOOR."""
    cells = in_domain(tables, test_size)
    found = []
    for test in tables.domains():
        points, unmeasured = [], []
        for (t, row, k), cell in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][2])):
            if t != test:
                continue
            cost = cell_cost(cell)
            if cost is None:
                unmeasured.append(cell)
            else:
                points.append(Point(row, k, 100 * cell.mean, cost, cell))
        if points:
            front = [points[i] for i in pareto_front([(p.drawn_cost, p.auc) for p in points])]
            found.append(Panel(test, points, sorted(front, key=lambda p: (p.drawn_cost, p.auc)), unmeasured))
    return found


def front_rows(tables: Tables, test_size: int | None = None) -> dict[str, list[tuple[str, int]]]:
    """Test set -> the (row, K) cells on its front, cheapest first."""
    return {p.test: [(q.row, q.shots) for q in p.front] for p in panels(tables, test_size)}


# ---------------------------------------------------------------------------------------------
# Labels


def _front_labels(front: list[Point], shown: dict[str, str]) -> list[tuple[Point, str]]:
    """One label per group of front points of one row that coincide (a K-blind method: same AUC, same
    clipped cost), naming their K values; at most MAX_LABEL characters."""
    groups: dict[tuple, list[Point]] = {}
    for p in front:
        groups.setdefault((p.row, round(p.auc, 6), p.drawn_cost), []).append(p)
    labels = []
    for members in groups.values():
        ks = "/".join(str(p.shots) for p in sorted(members, key=lambda p: p.shots))
        base = shown[members[0].cell.row]
        tail = f", K={ks}"
        if len(base) + len(tail) > MAX_LABEL:
            base = base[: MAX_LABEL - len(tail) - 2] + "…]"
        labels.append((members[0], base + tail))
    return labels


# ---------------------------------------------------------------------------------------------
# Drawing


def _machine_label(machine: str) -> str:
    if "," not in machine:  # host and architecture only: written before records named the CPU model
        return f"{machine} (CPU model not recorded)"
    return machine


def _place_labels(fig: Figure, ax, labels: list[tuple[Point, str]], points: list[Point]) -> None:
    """Each front label at the first of a few places beside its point where it stays inside the axes and
    clear of the other labels and of the points (else clear of the labels only, else the first place); a
    label set away from its point gets a leader line."""
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    markers = []
    for p in points:
        x, y = ax.transData.transform((p.drawn_cost, p.auc))
        markers.append(Bbox.from_extents(x - 4, y - 4, x + 4, y + 4))
    placed: list[Bbox] = []
    # (dx, dy) in points, alignment: up-left first, then higher up (nothing beats a front point, so the
    # region above and to the left of it holds no point: a cluster of front points gets a column of labels
    # there), then up-right, down-right and down-left of it.
    spots = ([((-6 - 3 * i, 4 + 11 * i), "right", "bottom") for i in range(8)]
             + [((6 + 3 * i, 4 + 11 * i), "left", "bottom") for i in range(5)]
             + [((6 + 3 * i, -5 - 11 * i), "left", "top") for i in range(4)]
             + [((-6 - 3 * i, -5 - 11 * i), "right", "top") for i in range(4)])

    def put(point: Point, text: str, spot, leader: bool = True) -> Any:
        (dx, dy), ha, va = spot
        far = leader and (abs(dx) > 8 or abs(dy) > 8)
        return ax.annotate(text, (point.drawn_cost, point.auc), xytext=(dx, dy), textcoords="offset points",
                           ha=ha, va=va, fontsize=7, color="#111111", zorder=6, gid="front-label",
                           bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none",
                                 "alpha": 0.75},
                           # the leader leaves the label's corner nearest the point
                           arrowprops={"arrowstyle": "-", "color": "#777777", "linewidth": 0.6, "shrinkA": 0,
                                       "shrinkB": 4, "relpos": (float(ha == "right"), float(va == "top"))}
                           if far else None, annotation_clip=False)

    for point, text in sorted(labels, key=lambda pl: (pl[0].auc, -pl[0].drawn_cost)):
        chosen, fallback = None, None
        for spot in spots:
            ann = put(point, text, spot, leader=False)
            box = ann.get_window_extent(renderer)  # the text's box: a leader line may cross points
            ann.remove()
            fits = inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
            if fits and not any(box.overlaps(b) for b in placed):
                if not any(box.overlaps(b) for b in markers):
                    chosen = spot
                    break
                fallback = fallback or spot
        ann = put(point, text, chosen or fallback or spots[0], leader=False)
        placed.append(ann.get_window_extent(renderer))
        ann.remove()
        put(point, text, chosen or fallback or spots[0]).set_in_layout(False)  # placed: keep the layout


def _panel_grid(n: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2
    return math.ceil(n / cols), cols


def _draw_panel(ax, panel: Panel, styles: dict, order: dict[str, int], size: dict[int, float],
                marker: dict[str, str], x_range: tuple[float, float], decades: list[float],
                shown: dict[str, str]) -> bool:
    """One test set's panel: its points (faded off the front), API dollars where recorded, the front as a
    staircase, axes and ticks; whether it showed dollars."""
    x_lo, x_hi = x_range
    dollars_shown = False
    ax.set_xscale("log")
    ax.set_xlim(x_lo, x_hi)
    aucs = [p.auc for p in panel.points]
    y_lo, top = min(aucs + [CHANCE]) - 2.5, max(aucs + [CHANCE])
    # room above the front for a column of its labels (one line of each about 4% of the panel)
    y_hi = min(101.5, top + (top - y_lo) * min(0.4, 0.05 * (len(_front_labels(panel.front, shown)) + 1)))
    ax.set_ylim(y_lo, y_hi)
    ax.axhline(CHANCE, color=CHANCE_COLOUR, linewidth=1.0, zorder=1)
    ax.axvspan(x_lo, COST_FLOOR, color="#f0f0f0", zorder=0, linewidth=0)
    on_front = {id(p) for p in panel.front}
    for p in sorted(panel.points, key=lambda p: (id(p) in on_front, order.get(p.row, 0))):
        front = id(p) in on_front
        style = styles.get(p.row)
        colour = style.colour if style else "#444444"
        shape = marker[p.cost.machines[0]] if len(p.cost.machines) == 1 else MIXED_MARKER
        grow = 1.35 if shape == MIXED_MARKER else 1.0
        ax.plot([p.drawn_cost], [p.auc], linestyle="none", marker=shape,
                markersize=size[p.shots] * grow * (1.15 if front else 1.0),
                color=colour, alpha=1.0 if front else 0.45,
                markeredgecolor="#111111" if front else colour,
                markeredgewidth=0.9 if front else 0.0, zorder=4 if front else 3,
                gid=f"{'front' if front else 'point'}:{p.row}:K={p.shots}")
        if p.cost.dollars is not None:
            dollars_shown = True
            ax.annotate(f"${p.cost.dollars:.3g}/1k", (p.drawn_cost, p.auc), xytext=(0, -9),
                        textcoords="offset points", ha="center", va="top", fontsize=6.5, color="#2f6f2f",
                        zorder=5, gid=f"dollars:{p.row}")
    # the front as a staircase: from each point, level to the next one's cost, then up to it
    xs, ys = [], []
    for p in panel.front:
        if xs:
            xs.append(p.drawn_cost)
            ys.append(ys[-1])
        xs.append(p.drawn_cost)
        ys.append(p.auc)
    xs.append(x_hi)
    ys.append(ys[-1])
    ax.plot(xs, ys, color=FRONT_COLOUR, linewidth=1.1, linestyle=(0, (4, 2)), zorder=2, gid="front")
    ax.set_title(f"{panel.test} (trained and tested on {panel.test})", fontsize=10)
    ax.grid(alpha=0.3, which="major")
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(FixedLocator(decades))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"≤{d:g}" if d == COST_FLOOR else f"{d:g}" for d in decades])
    ax.set_ylabel("AUC x 100 (mean over seeds)", fontsize=8.5)
    return dollars_shown


def draw_cost_frontier(tables: Tables, test_size: int | None = None) -> Figure | None:
    """The AUC-against-cost figure, unsaved (see the module docstring); None when no in-domain cell of
    the test subset has a measured cost."""
    found = panels(tables, test_size)
    if not found:
        return None
    styles = row_styles(tables, test_size)
    shown = table_labels(tables, test_size)[0]
    order = {r: i for i, r in enumerate(ordered_rows(tables, test_size))}
    shots = sorted({p.shots for panel in found for p in panel.points})
    size = {k: K_SIZES[min(i, len(K_SIZES) - 1)] for i, k in enumerate(shots)}
    machines: list[str] = []
    for panel in found:
        for p in sorted(panel.points, key=lambda p: (order.get(p.row, 0), p.shots)):
            if len(p.cost.machines) == 1 and p.cost.machines[0] not in machines:
                machines.append(p.cost.machines[0])
    marker = {m: MACHINE_MARKERS[i % len(MACHINE_MARKERS)] for i, m in enumerate(machines)}
    mixed = any(len(p.cost.machines) > 1 for panel in found for p in panel.points)

    nrows, ncols = _panel_grid(len(found))
    panel_w, panel_h = 6.0, 4.3
    width = panel_w * ncols + 0.6
    key_h = 1.5 if ncols > 1 else 2.7  # one column of panels: the machines under the methods, not beside
    fig = plt.figure(figsize=(width, panel_h * nrows + 1.3 + key_h), layout="constrained")
    top, key = fig.subfigures(2, 1, height_ratios=[panel_h * nrows + 1.3, key_h])
    axes = top.subplots(nrows, ncols, sharex=True, squeeze=False)
    costs = [p.drawn_cost for panel in found for p in panel.points]
    x_lo, x_hi = COST_FLOOR / 10 ** 0.25, max(costs) * 10 ** 0.35
    decades = [10.0 ** e for e in range(math.floor(math.log10(COST_FLOOR)), math.ceil(math.log10(x_hi)) + 1)]
    for ax in axes.flat[len(found):]:
        ax.set_axis_off()
    dollars_shown = False
    for ax, panel in zip(axes.flat, found, strict=False):
        dollars_shown |= _draw_panel(ax, panel, styles, order, size, marker, (x_lo, x_hi), decades, shown)
    for ax in axes[-1]:
        ax.set_xlabel(X_LABEL, fontsize=8.5)
    for c in range(ncols):  # a panel above an empty slot shows its own cost labels
        filled = [r for r in range(nrows) if r * ncols + c < len(found)]
        if filled and filled[-1] != nrows - 1:
            axes[filled[-1]][c].tick_params(labelbottom=True)
            axes[filled[-1]][c].set_xlabel(X_LABEL, fontsize=8.5)

    _legend(key, found, styles, order, size, machines, marker, mixed, stacked=ncols == 1)
    _caption(fig, found, width, test_size, dollars_shown)
    fig.canvas.draw()  # the layout settled: place the front's labels
    for ax, panel in zip(axes.flat, found, strict=False):
        _place_labels(fig, ax, _front_labels(panel.front, shown), panel.points)
    return fig


def _legend(key, found, styles, order, size, machines, marker, mixed, stacked: bool) -> None:
    """Under the panels (`key`, a subfigure): methods (colour), K (size) and the front on the left, the
    machines (shape) on the right, or under them when `stacked`."""
    methods: dict[str, str] = {}
    rows = sorted({p.row for panel in found for p in panel.points}, key=lambda r: order.get(r, 0))
    cells = {p.row: p.cell for panel in found for p in panel.points}
    for r in rows:
        style = styles.get(r)
        methods.setdefault(cells[r].method, style.colour if style else "#444444")
    handles = [Line2D([], [], linestyle="none", marker="o", color=c, markersize=7) for c in methods.values()]
    labels = list(methods)
    handles += [Line2D([], [], linestyle="none", marker="o", color="#777777", markersize=s)
                for s in size.values()]
    labels += [f"K = {k}" for k in size]
    handles.append(Line2D([], [], color=FRONT_COLOUR, linewidth=1.1, linestyle=(0, (4, 2)), marker="o",
                          markersize=6, markerfacecolor="#bbbbbb", markeredgecolor="#111111"))
    labels.append("Pareto front (dark edge: on it)")
    key.legend(handles, labels, loc="upper left", ncol=math.ceil(len(labels) / 5), fontsize=7.5,
               frameon=False,
               title="colour = method, size = K", title_fontsize=8, alignment="left")
    shapes = [Line2D([], [], linestyle="none", marker=marker[m], color="#555555", markersize=7)
              for m in machines]
    names = [f"ran on: {_machine_label(m)}" for m in machines]
    if mixed:
        shapes.append(Line2D([], [], linestyle="none", marker=MIXED_MARKER, color="#555555", markersize=9))
        names.append("seeds ran on different machines (those above)")
    key.legend(shapes, names, loc="lower left" if stacked else "upper right", ncol=1, fontsize=7.5,
               frameon=False,
               title="marker = the machine that ran the cell\n(costs from different machines do not compare)",
               title_fontsize=8, alignment="left")


def _caption(fig, found, width, test_size, dollars_shown) -> None:
    import textwrap

    subset = "full test sets" if test_size is None else f"fixed {test_size}-sample test subset"
    skipped = sum(len(p.unmeasured) for p in found)
    parts = [
        "Cost: a cell's fit plus scoring seconds per 1000 test samples, mean over its seeds, as measured "
        "on the machine that ran it (a fit reused from an earlier run counts the training time recorded "
        "with it; scores a record says it took from a cache are costed at its own rate; other cached work "
        "is not counted).",
        f"Costs under {COST_FLOOR:g} s are drawn at {COST_FLOOR:g} s (the shaded edge) and count as equal "
        "on the front.",
        "Dashed staircase: the Pareto front (no configuration has both a higher AUC and a lower cost); "
        "grey line: chance.",
    ]
    if skipped:
        parts.append(f"{skipped} cell(s) reused every score from another cell and measured no cost: "
                     "not drawn.")
    parts.append("API dollars per 1000 test samples are written under a point where recorded."
                 if dollars_shown
                 else "API dollars: no drawn cell's records carry any (icl's cost_usd), so none are shown.")
    title = f"In-domain AUC x 100 against compute per 1000 test samples, {subset}"
    fig.suptitle(title + "\n" + "\n".join(textwrap.wrap(" ".join(parts), int(width * 15))), fontsize=9)


def _save(fig: Figure, stem: Path) -> list[Path]:
    """PNG (at most DPI, lower if a side would pass MAX_PIXELS) and PDF."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    side = max(box.width, box.height) + 0.2  # inches, with the saved padding
    dpi = min(DPI, math.floor((MAX_PIXELS - 2) / side))
    fig.savefig(paths[0], dpi=dpi, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})
    plt.close(fig)
    return paths


def cost_frontier(tables: Tables, stem: Path, test_size: int | None = None) -> list[Path]:
    """Draw and save the AUC-against-cost figure as `stem`.png and .pdf; returns the paths, or [] when
    no in-domain cell of the test subset (the full test sets by default) has a measured cost."""
    fig = draw_cost_frontier(tables, test_size)
    return [] if fig is None else _save(fig, stem)
