"""Figures for the report (matplotlib, Agg backend: no display needed), each saved as PNG and PDF.

auc_vs_k      AUC x 100 against K, one line per method, one panel per domain, error bars = std over
              seeds (none for a single seed), the paper's TALLRec row dashed for reference
cross_domain  like the paper's cross-domain figure: per method, trained on movie / book / both,
              tested on each domain, grouped by K; 'n/a' and 'not run' written where bars are missing
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from bench.report import PaperRow, Tables

DOMAINS = ("movie", "book")
TRAIN_PLANS = ("movie", "book", "both")
PLAN_COLOURS = {"movie": "#1f77b4", "book": "#ff7f0e", "both": "#2ca02c"}


def _save(fig: plt.Figure, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _subset_title(test_size: int | None) -> str:
    return "full test sets" if test_size is None else f"fixed {test_size}-sample test subset"


def auc_vs_k(tables: Tables, test_size: int | None, stem: Path, paper: list[PaperRow]) -> list[Path]:
    shots = tables.shots(test_size)
    fig, axes = plt.subplots(1, len(DOMAINS), figsize=(11, 4.2), sharey=True)
    handles: dict[str, object] = {}
    for ax, domain in zip(axes, DOMAINS, strict=True):
        drawn = False
        for i, row in enumerate(tables.rows(test_size)):
            points = [(k, c) for k in shots if (c := tables.get(test_size, domain, domain, k, row)) and c.records]
            if not points:
                continue
            xs = [k for k, _ in points]
            ys = [100 * c.mean for _, c in points]
            errs = [100 * c.std if len(c.records) > 1 else 0.0 for _, c in points]
            h = ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=4, linewidth=1.6,
                            color=f"C{i % 10}", label=row)
            handles.setdefault(row, h)
            drawn = True
        for p in paper:
            if p.paper_name == "TALLRec":
                ks = [k for k in sorted({k for d, k in p.values}) if (domain, k) in p.values]
                h = ax.plot(ks, [p.values[(domain, k)] for k in ks], linestyle="--", color="grey", marker="s",
                            markersize=4, label="paper: TALLRec (published)")[0]
                handles.setdefault("paper: TALLRec (published)", h)
        ax.axhline(50, color="black", linewidth=0.6, alpha=0.4)
        if not drawn:
            ax.text(0.5, 0.5, f"no {domain} results", transform=ax.transAxes, ha="center", va="center")
        ax.set_xscale("log", base=2)
        ticks = sorted(set(shots) | {16, 64, 256})
        ax.set_xticks(ticks, [str(k) for k in ticks])
        ax.minorticks_off()
        ax.set_title(f"{domain} (trained on {domain})")
        ax.set_xlabel("K (few-shot training samples)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("AUC x 100")
    fig.suptitle(f"AUC against K, {_subset_title(test_size)}; error bars: ± std over seeds "
                 "(none for a single seed); line at 50 = chance", fontsize=10)
    fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


def cross_domain(tables: Tables, test_size: int | None, stem: Path) -> list[Path]:
    shots = tables.shots(test_size)
    rows = [r for r in tables.rows(test_size)
            if any(k[0] == test_size and k[4] == r and k[1] != k[2] for k in tables.cells)]
    fig, axes = plt.subplots(len(rows), len(DOMAINS), figsize=(11, 3.2 * len(rows)), sharey=True, squeeze=False)
    width = 0.8 / len(TRAIN_PLANS)
    tops = [100 * (c.mean + (c.std if len(c.records) > 1 else 0.0)) for k, c in tables.cells.items()
            if k[0] == test_size and k[4] in rows and c.records]
    top = max(tops + [55.0]) + 4
    for axes_row, row in zip(axes, rows, strict=True):
        for ax, test in zip(axes_row, DOMAINS, strict=True):
            for j, plan in enumerate(TRAIN_PLANS):
                for i, k in enumerate(shots):
                    x = i + (j - 1) * width
                    cell = tables.get(test_size, plan, test, k, row)
                    if cell and cell.records:
                        err = 100 * cell.std if len(cell.records) > 1 else 0.0
                        ax.bar(x, 100 * cell.mean - 40, width, bottom=40, yerr=err, capsize=3,
                               color=PLAN_COLOURS[plan], label=f"trained on {plan}" if i == 0 else None)
                        ax.text(x, 100 * cell.mean + err + 0.3, f"{100 * cell.mean:.1f}", ha="center",
                                va="bottom", fontsize=7)
                    else:
                        note = "n/a" if cell and cell.not_applicable else "not run"
                        ax.text(x, 41, note, rotation=90, ha="center", va="bottom", fontsize=7, color="grey")
            ax.axhline(50, color="black", linewidth=0.6, alpha=0.4)
            ax.set_xticks(range(len(shots)), [f"K={k}" for k in shots])
            ax.set_xlim(-0.5, len(shots) - 0.5)
            ax.set_ylim(40, top)
            ax.set_title(f"{row}: tested on {test}")
            ax.grid(axis="y", alpha=0.3)
        axes_row[0].set_ylabel("AUC x 100")
    handles = [plt.Rectangle((0, 0), 1, 1, color=PLAN_COLOURS[p]) for p in TRAIN_PLANS]
    fig.legend(handles, [f"trained on {p}" for p in TRAIN_PLANS], loc="upper center", ncol=3,
               bbox_to_anchor=(0.5, 1.0 + 0.02 / max(len(rows), 1)))
    fig.suptitle(f"Cross-domain AUC, {_subset_title(test_size)} (error bars: ± std over seeds; "
                 "'n/a': method cannot score an unseen domain)", fontsize=10, y=1.0 + 0.08 / max(len(rows), 1))
    fig.tight_layout()
    return _save(fig, stem)
