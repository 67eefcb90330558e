"""The summary figure: each featured method's difference to the bar, with its 95% interval by user (and
seed), one panel per test set, one marker per K. Zero (the bar) and chance (a method that knows nothing,
AUC 50) are marked, so a reader sees at a glance what clears the bar, what sits within its interval of
it, and how far below the bar chance lies. Saved as PNG (at most 2000 px a side) and PDF.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.report.aggregate import Tables, strongest_baseline  # noqa: E402
from bench.report.summary import Feature, featured, short_label  # noqa: E402

K_STYLES = (("#1f77b4", "o"), ("#ff7f0e", "s"), ("#2ca02c", "^"), ("#9467bd", "D"), ("#8c564b", "v"))
DPI = 120
MAX_SIDE_PX = 2000


def _panel_data(tables: Tables, domain: str, features: list[Feature]) -> tuple[list[str], dict, list]:
    """Rows (short labels, in report order), {(row, K): (Δ, low, high, significant)} and the bars
    (label, AUC x 100) by K."""
    points, bars, order = {}, [], {}
    for k in tables.shots(None):
        cells = [c for c in tables.column(None, domain, domain, k) if c.records]
        bar = strongest_baseline(cells)
        if bar is None:
            continue
        bars.append((short_label(bar), 100 * bar.mean))
        for cell in featured(cells, features):
            if cell.comparison is None:
                continue
            r = cell.comparison.result
            label = short_label(cell)
            order.setdefault(label, tables.rows(None).index(cell.row))
            points[(label, k)] = (100 * r.difference, 100 * r.low, 100 * r.high, cell.comparison.significant)
    return sorted(order, key=order.get), points, bars


def draw_summary(tables: Tables, features: list[Feature]):
    """The figure, unsaved; None when no test set has a bar."""
    panels = [(d, *_panel_data(tables, d, features)) for d in tables.domains()]
    panels = [p for p in panels if p[1]]
    if not panels:
        return None
    columns = min(2, len(panels))
    grid_rows = math.ceil(len(panels) / columns)
    height_per_row = 0.9 + 0.28 * max(len(p[1]) for p in panels)
    width, height = 6.0 * columns, height_per_row * grid_rows + 0.9
    scale = min(1.0, MAX_SIDE_PX / DPI / max(width, height))
    fig, axes = plt.subplots(grid_rows, columns, figsize=(width * scale, height * scale), squeeze=False)
    shots = tables.shots(None)
    for ax, (domain, rows, points, bars) in zip(axes.flat, panels, strict=False):
        for i, k in enumerate(shots):
            colour, marker = K_STYLES[i % len(K_STYLES)]
            offset = (i - (len(shots) - 1) / 2) * 0.22
            for y, row in enumerate(rows):
                if (row, k) not in points:
                    continue
                mid, low, high, significant = points[(row, k)]
                ax.errorbar(mid, y + offset, xerr=[[mid - low], [high - mid]], fmt=marker, color=colour,
                            mfc=colour if significant else "white", ms=5, lw=1, capsize=2,
                            label=f"K={k}" if y == 0 else None)
        ax.axvline(0, color="black", lw=1)
        chance = 50 - sum(auc for _, auc in bars) / len(bars)
        ax.axvline(chance, color="grey", lw=1, ls="--")
        ax.text(chance, -0.75, " chance", color="grey", fontsize=7, va="center")
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.set_ylim(len(rows) - 0.5, -1)
        ax.grid(axis="x", color="#dddddd", lw=0.5)
        ax.set_title(f"{domain}: the bar is {'; '.join(f'{name} {auc:.2f}' for name, auc in sorted(set(bars)))}",
                     fontsize=9)
        ax.set_xlabel("Δ AUC x 100 to the bar (95% interval)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False,
               title="filled: significantly different from the bar (Holm); hollow: not", title_fontsize=7)
    fig.suptitle("Each featured method against the bar (the strongest training-free method), full test sets",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return fig


def summary_figure(tables: Tables, features: list[Feature], stem: Path) -> list[Path]:
    """Save the figure as stem.png and stem.pdf; nothing when there is nothing to draw."""
    fig = draw_summary(tables, features)
    if fig is None:
        return []
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=DPI)
    fig.savefig(paths[1], metadata={"CreationDate": None})
    plt.close(fig)
    return paths
