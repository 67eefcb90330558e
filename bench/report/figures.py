"""Figures for the report (matplotlib, Agg backend: no display needed), each saved as PNG (150 dpi) and PDF.

Both figures use one vocabulary, stated in each figure's key:
  * filled marker: the mean of two or more distinct runs; hollow marker: a single run (one seed, or a
    deterministic method whose seeds gave identical scores), so it carries no seed-to-seed spread;
  * error bars: the cell's 95% interval of the mean (`TableCell.interval`), wherever one was computed;
  * a grey line at AUC x 100 = 50: chance (a scorer that knows nothing).

auc_vs_k      In-domain AUC x 100 against K (log scale), as small multiples: one row of panels per method
              family (training-free baselines, sequential recommenders, language models), one column per
              domain, so a panel holds at most ~10 series and its legend sits beside it, never on the data.
              Colour = method (a -text variant takes a paler shade of its ID model's hue), marker + line
              style = the method's configuration; every row has its own (colour, marker) pair. Points are
              dodged a little around each K so that error bars do not hide each other. The full-test-set
              figure adds the paper's TALLRec row (LLaMA-7B, published numbers) to the language-model
              panels, labelled as such; a subset figure never draws it (it was measured on other samples).
cross_domain  The paper's cross-domain question as a dot plot: one panel per (test domain, K), one line per
              method configuration (named on the axis, so colour here means the training plan), and on it
              one dot per plan: trained on movie, on book, or on both (K shots from each). A cell without a
              value says why on its dot's line: 'n/a' (the method cannot score a domain it did not train
              on) or 'not run' (no record). The axis starts at chance (50) unless a value lies below it,
              and the region below chance is shaded, so a dot's distance from the chance line is its gain.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from bench.report.labels import table_labels  # noqa: E402
from bench.report.styles import (  # noqa: E402
    EXTRA_PLAN_STYLES,
    PLAN_STYLES,
    Style,
    family,
    family_titles,
    ordered_rows,
    row_methods,
    row_styles,
)

if TYPE_CHECKING:
    from bench.report.aggregate import TableCell, Tables
    from bench.report.paper import PaperRow

TRAIN_PLANS = ("movie", "book", "both")
DPI = 150
CHANCE = 50.0
CHANCE_COLOUR = "#8c8c8c"
PAPER_LABEL = "paper: TALLRec on LLaMA-7B (published, full test set)"


def _has_value(cell: TableCell | None) -> bool:
    return cell is not None and bool(cell.records)


def _single_run(cell: TableCell) -> bool:
    return len(cell.runs) == 1


def _interval(cell: TableCell) -> tuple[float, float] | None:
    """The cell's 95% interval in AUC x 100, (low, high); None when it has none."""
    if cell.interval is None:
        return None
    low, high = sorted(cell.interval)
    return 100 * low, 100 * high


def _wrap(label: str, width: int) -> str:
    return "\n".join(textwrap.wrap(label, width, break_long_words=False, break_on_hyphens=False)) or label


def _subset_title(test_size: int | None) -> str:
    return "full test sets" if test_size is None else f"fixed {test_size}-sample test subset (not the full test sets)"


def _n_test_text(tables: Tables, test_size: int | None, cross: bool) -> str:
    parts = []
    for d in tables.domains():
        ns = sorted({c.n_test for k, c in tables.cells.items()
                     if k[0] == test_size and k[2] == d and c.records and (cross or k[1] == d)})
        if ns:
            parts.append(f"{d} {'/'.join(map(str, ns))}")
    return f"test samples: {', '.join(parts)}" if parts else "no test samples scored"


def _key_handles() -> tuple[list, list[str]]:
    """The shared key: filled vs hollow markers, error bars, chance line."""
    handles = [Line2D([], [], linestyle="none", marker="o", color="#444444", markersize=6),
               Line2D([], [], linestyle="none", marker="o", color="#444444", markerfacecolor="white",
                      markeredgewidth=1.3, markersize=6),
               ErrorbarContainer((Line2D([], [], linestyle="none"),
                                  (Line2D([], [], linestyle="none", marker="_", color="#444444", markersize=6),) * 2,
                                  (LineCollection([], colors="#444444", linewidths=1.0),)), has_yerr=True),
               Line2D([], [], color=CHANCE_COLOUR, linewidth=1.0)]
    labels = ["filled: mean of 2 or more distinct runs",
              "hollow: a single run (one seed, or identical seeds)",
              "error bar: 95% interval of the mean",
              "chance (AUC 50)"]
    return handles, labels


def _titles(fig: Figure, width: float, title: str, subtitle: str) -> None:
    """The title, and under it the subtitle wrapped to the figure's width (inches)."""
    fig.suptitle(f"{title}\n" + _wrap(subtitle, int(width * 13)), fontsize=9.5)


def _empty(fig: Figure, text: str) -> Figure:
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _save(fig: Figure, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=DPI, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})  # same store, same bytes
    plt.close(fig)
    return paths


# ---------------------------------------------------------------------------------------------
# AUC against K


def _draw_series(ax, points: list[tuple[float, TableCell]], style: Style, row: str) -> None:
    """One row's line, its error bars and its markers (hollow where the point is a single run)."""
    xs = [x for x, _ in points]
    ys = [100 * c.mean for _, c in points]
    ax.plot(xs, ys, color=style.colour, linestyle=style.linestyle, linewidth=1.4, zorder=2, gid=f"row:{row}")
    for x, cell in points:
        if (span := _interval(cell)) is not None:  # drawn as given, whether or not it is centred on the mean
            bars = ax.errorbar([x], [sum(span) / 2], yerr=[(span[1] - span[0]) / 2], fmt="none",
                               ecolor=style.colour, elinewidth=1.0, capsize=2.5, alpha=0.85, zorder=2)
            bars.lines[2][0].set_gid(f"interval:{row}")
    for hollow in (False, True):
        sel = [(x, y) for (x, c), y in zip(points, ys, strict=True) if _single_run(c) == hollow]
        if sel:
            ax.plot([x for x, _ in sel], [y for _, y in sel], linestyle="none", marker=style.marker,
                    markersize=6, color=style.colour, markeredgewidth=1.3,
                    markerfacecolor="white" if hollow else style.colour, zorder=3,
                    gid=f"{'hollow' if hollow else 'filled'}:{row}")


def draw_auc_vs_k(tables: Tables, test_size: int | None, paper: list[PaperRow]) -> Figure:
    """The AUC-against-K figure, unsaved (see the module docstring)."""
    shots = tables.shots(test_size)
    styles = row_styles(tables, test_size)
    methods = row_methods(tables, test_size)
    rows = [r for r in ordered_rows(tables, test_size)
            if any(_has_value(tables.get(test_size, d, d, k, r)) for d in tables.domains() for k in shots)]
    domains = [d for d in tables.domains() if any(_has_value(tables.get(test_size, d, d, k, r)) for k in shots for r in rows)]
    groups = [(name, [r for r in rows if family(methods[r]) == name]) for name in family_titles()]
    groups = [(name, members) for name, members in groups if members]
    paper_row = next((p for p in paper if p.paper_name == "TALLRec"), None) if test_size is None else None
    title = f"In-domain AUC x 100 against K, {_subset_title(test_size)}"
    if not groups:
        return _empty(plt.figure(figsize=(6, 2)), f"{title}: no in-domain results")

    shown = table_labels(tables, test_size)[0]

    def entries(name: str, members: list[str]) -> list[str]:
        labels = [_wrap(shown[r], 38) for r in members]
        return labels + ([_wrap(PAPER_LABEL, 38)] if paper_row and name == "language models" else [])

    heights = [max(2.3, 0.2 * sum(1 + e.count("\n") for e in entries(*g)) + 0.55) for g in groups]
    width = 3.0 + 4.4 * len(domains)
    fig = plt.figure(figsize=(width, sum(heights) + 1.5), layout="constrained")
    axes = fig.subplots(len(groups), len(domains), sharex=True, sharey=True, squeeze=False,
                        gridspec_kw={"height_ratios": heights})
    for axes_row, (name, members) in zip(axes, groups, strict=True):
        handles = []
        for ax, domain in zip(axes_row, domains, strict=True):
            for i, row in enumerate(members):
                dodge = 2 ** ((i - (len(members) - 1) / 2) * min(0.06, 0.5 / len(members)))
                points = [(k * dodge, c) for k in shots if _has_value(c := tables.get(test_size, domain, domain, k, row))]
                if points:
                    _draw_series(ax, points, styles[row], row)
            if paper_row and name == "language models":
                ks = [k for k in sorted({k for _, k in paper_row.values}) if (domain, k) in paper_row.values]
                ax.plot(ks, [paper_row.values[(domain, k)] for k in ks], color="#333333", linestyle=(0, (4, 2)),
                        linewidth=1.2, marker="x", markersize=6, zorder=2, gid="paper", label=PAPER_LABEL)
            ax.axhline(CHANCE, color=CHANCE_COLOUR, linewidth=1.0, zorder=1)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=8)
        handles = [Line2D([], [], color=styles[r].colour, linestyle=styles[r].linestyle, marker=styles[r].marker,
                          markersize=6, linewidth=1.4) for r in members]
        if paper_row and name == "language models":
            handles.append(Line2D([], [], color="#333333", linestyle=(0, (4, 2)), marker="x", linewidth=1.2))
        axes_row[-1].legend(handles, entries(name, members), loc="upper left", bbox_to_anchor=(1.02, 1.0),
                            borderaxespad=0.0, fontsize=7.5, frameon=False, title=name, title_fontsize=8.5,
                            alignment="left", handlelength=2.6)
        axes_row[0].set_ylabel(f"{name}\nAUC x 100", fontsize=8.5)
    for ax, domain in zip(axes[0], domains, strict=True):
        ax.set_title(f"{domain} (trained and tested on {domain})", fontsize=10)
    ax = axes[0][0]
    ax.set_xscale("log", base=2)
    ax.set_xticks(shots, [str(k) for k in shots])
    ax.minorticks_off()
    ax.set_xlim(min(shots) / 2 ** 0.6, max(shots) * 2 ** 0.6)
    for ax in axes[-1]:
        ax.set_xlabel("K (few-shot training samples, log scale)", fontsize=8.5)
    note = ("the paper's numbers were measured on the full test sets and are not drawn" if test_size is not None
            else "black dashed x: TALLRec as published (LLaMA-7B)")
    _titles(fig, width, title, f"{_n_test_text(tables, test_size, cross=False)}; colour = method, marker and "
            f"line style = its configuration; {note}")
    fig.legend(*_key_handles(), loc="outside lower center", ncol=4 if width > 10 else 2, fontsize=8, frameon=False)
    return fig


def auc_vs_k(tables: Tables, test_size: int | None, stem: Path, paper: list[PaperRow]) -> list[Path]:
    """Draw and save the AUC-against-K figure as `stem`.png and .pdf; returns the paths."""
    return _save(draw_auc_vs_k(tables, test_size, paper), stem)


# ---------------------------------------------------------------------------------------------
# Cross-domain


def _plans(tables: Tables, test_size: int | None) -> list[str]:
    trains = {k[1] for k in tables.cells if k[0] == test_size}
    return [p for p in TRAIN_PLANS if p in trains] + sorted(trains - set(TRAIN_PLANS))


def _plan_style(plan: str, plans: list[str]) -> tuple[str, str]:
    extra = [p for p in plans if p not in PLAN_STYLES]
    return PLAN_STYLES.get(plan) or EXTRA_PLAN_STYLES[extra.index(plan) % len(EXTRA_PLAN_STYLES)]


def _cross_domain_panel(ax, tables: Tables, test_size: int | None, test: str, k: int, rows: list[str],
                        plans: list[str], x_range: tuple[float, float], offsets: dict[str, float],
                        fontsize: float) -> None:
    """One (test domain, K) panel: a line per row, a dot per training plan, or why there is none."""
    x_lo, x_hi = x_range
    methods = row_methods(tables, test_size)
    if x_lo < CHANCE:
        ax.axvspan(x_lo, CHANCE, color="#f0f0f0", zorder=0, linewidth=0)
    ax.axvline(CHANCE, color=CHANCE_COLOUR, linewidth=1.0, zorder=1)
    for i, row in enumerate(rows):
        if i and family(methods[row]) != family(methods[rows[i - 1]]):
            ax.axhline(i - 0.5, color="#9a9a9a", linewidth=0.8, zorder=1)
        elif i:
            ax.axhline(i - 0.5, color="#e2e2e2", linewidth=0.6, zorder=1)
        for plan in plans:
            colour, marker = _plan_style(plan, plans)
            y = i + offsets[plan]
            cell = tables.get(test_size, plan, test, k, row)
            if not _has_value(cell):
                note = "n/a" if cell is not None and cell.not_applicable else "not run"
                ax.text(x_lo + 0.012 * (x_hi - x_lo), y, note, fontsize=fontsize, color="#777777",
                        style="italic", ha="left", va="center", zorder=2, gid=f"note:{note}")
                continue
            x = 100 * cell.mean
            if (span := _interval(cell)) is not None:
                bars = ax.errorbar([sum(span) / 2], [y], xerr=[(span[1] - span[0]) / 2], fmt="none",
                                   ecolor=colour, elinewidth=1.0, capsize=2, zorder=2)
                bars.lines[2][0].set_gid(f"interval:{row}")
            hollow = _single_run(cell)
            ax.plot([x], [y], linestyle="none", marker=marker, markersize=5, color=colour,
                    markeredgewidth=1.2, markerfacecolor="white" if hollow else colour,
                    zorder=3, gid=f"{'hollow' if hollow else 'filled'}:{row}")
    ax.set_title(f"tested on {test}, K={k}", fontsize=9.5)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(labelsize=7.5)


def _cross_domain_key(fig: Figure, plans: list[str]) -> None:
    """One key under the panels: the plans (and chance) on its first line, markers and error bars on the
    second."""
    handles = [Line2D([], [], linestyle="none", marker=_plan_style(p, plans)[1], color=_plan_style(p, plans)[0],
                      markersize=6) for p in plans]
    labels = [f"trained on {p}" + (" (K shots from each)" if p == "both" else "") for p in plans]
    key_h, key_l = _key_handles()
    first = list(zip(handles + key_h[-1:], labels + key_l[-1:], strict=True))
    second = list(zip(key_h[:-1], key_l[:-1], strict=True))
    ncol = max(len(first), len(second))
    blank = (Line2D([], [], linestyle="none"), "")
    first += [blank] * (ncol - len(first))
    second += [blank] * (ncol - len(second))
    entries = [e for pair in zip(first, second, strict=True) for e in pair]  # legends fill column by column
    fig.legend([h for h, _ in entries], [t for _, t in entries], loc="outside lower center", ncol=ncol,
               fontsize=8, frameon=False)


def draw_cross_domain(tables: Tables, test_size: int | None) -> Figure:
    """The cross-domain dot plot, unsaved (see the module docstring)."""
    shots = tables.shots(test_size)
    rows = [r for r in ordered_rows(tables, test_size)
            if any(k[0] == test_size and k[4] == r and k[1] != k[2] for k in tables.cells)]
    # test domains some method was scored on after training elsewhere (an in-domain-only domain has no panel)
    tests = [d for d in tables.domains() if any(k[0] == test_size and k[2] == d and k[1] != d and k[4] in rows
                                                for k in tables.cells)]
    plans = [p for p in _plans(tables, test_size)
             if any(k[0] == test_size and k[1] == p and k[2] in tests for k in tables.cells)]
    title = f"Cross-domain AUC x 100, {_subset_title(test_size)}"
    if not rows or not tests:
        return _empty(plt.figure(figsize=(6, 2)), f"{title}: no cross-domain results")
    cells = [c for k, c in tables.cells.items() if k[0] == test_size and k[4] in rows and c.records]
    lows, highs = [CHANCE], [CHANCE + 5]
    for c in cells:
        span = _interval(c) or (100 * c.mean, 100 * c.mean)
        lows += [100 * c.mean, span[0]]
        highs += [100 * c.mean, span[1]]
    x_lo = CHANCE if min(lows) >= CHANCE - 0.5 else math.floor(min(lows) - 1)
    x_hi = math.ceil(max(highs) + 1.5)
    # Each method line is `row_h` inches tall; shrink it for many rows so that no side passes ~2,400 px.
    row_h = min(0.42, max(0.2, (15.0 - 1.4 - 0.45 * len(tests)) / (len(rows) * len(tests))))
    width = 3.4 + 2.9 * len(shots)
    fig = plt.figure(figsize=(width, len(tests) * (len(rows) * row_h + 0.45) + 1.6), layout="constrained")
    axes = fig.subplots(len(tests), len(shots), sharex=True, sharey=True, squeeze=False)
    offsets = {p: (j - (len(plans) - 1) / 2) * min(0.27, 0.8 / len(plans)) for j, p in enumerate(plans)}
    fontsize = 6.5 if row_h >= 0.36 else 5.5
    for axes_row, test in zip(axes, tests, strict=True):
        for ax, k in zip(axes_row, shots, strict=True):
            _cross_domain_panel(ax, tables, test_size, test, k, rows, plans, (x_lo, x_hi), offsets, fontsize)
    ax = axes[0][0]
    shown = table_labels(tables, test_size)[0]
    ax.set_yticks(range(len(rows)), [_wrap(shown[r], 44) for r in rows], fontsize=7.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(x_lo, x_hi)
    for ax in axes[-1]:
        ax.set_xlabel("AUC x 100", fontsize=8.5)
    _cross_domain_key(fig, plans)
    _titles(fig, width, title, f"{_n_test_text(tables, test_size, cross=True)}; one line per method "
            "configuration, one dot per training plan; 'n/a': the method cannot score a domain it was not "
            "trained on; 'not\u00a0run': no record")
    return fig


def cross_domain(tables: Tables, test_size: int | None, stem: Path) -> list[Path]:
    """Draw and save the cross-domain figure as `stem`.png and .pdf; returns the paths."""
    return _save(draw_cross_domain(tables, test_size), stem)
