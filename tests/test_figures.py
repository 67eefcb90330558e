"""Figures from synthetic records: files written, compact, one style per row, hollow single runs,
intervals drawn, no paper line on subsets, 'n/a' / 'not run' said, the axis starting at chance."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import pytest
from test_report import make_record

from bench.report import figures
from bench.report import render as report
from bench.report.styles import row_styles

LONG = {"model": "SmolLM2-135M-Instruct", "preset": "fast", "dtype": "float32", "score": "reference"}
OTHER = {"model": "SmolLM2-360M-Instruct", "preset": "paper", "dtype": "bfloat16", "score": "batched"}
#: (method, config): 15 rows over the three families, two of them with long labels.
ROWS = [("random", None), ("popularity", None), ("like-ratio", None),
        ("gru4rec", {"pretrain_epochs": 0}), ("gru4rec", {"pretrain_epochs": 5}),
        ("gru4rec-text", {"pretrain_epochs": 0}), ("gru4rec-text", {"pretrain_epochs": 5}),
        ("caser", None), ("sasrec", {"pretrain_epochs": 0}), ("sasrec", {"pretrain_epochs": 5}),
        ("sasrec-text", None), ("zero-shot", None), ("icl", None), ("tallrec", LONG), ("tallrec", OTHER)]
ID_BASED = ("popularity", "gru4rec", "caser", "sasrec")  # cannot score a domain they were not trained on


def _deterministic(record: dict, like: dict) -> dict:
    """`record` with `like`'s scores: a seed of a deterministic method, identical to seed 0."""
    return dict(record, scores=like["scores"], auc=like["auc"])


@pytest.fixture(scope="module")
def records():
    recs = []
    for i, (method, config) in enumerate(ROWS):
        signal = 0.05 * i
        for test in ("movie", "book"):
            for train in ("movie", "book", "both"):
                for k in (16, 64, 256):
                    if method == "tallrec" and k == 256:
                        continue  # never run: 'not run'
                    if train != test and method.startswith(ID_BASED):
                        if train != "both":
                            recs.append(make_record(method, train, test, k, 0, status="not-applicable",
                                                    config=config))
                        continue
                    first = make_record(method, train, test, k, 0, signal=signal, config=config)
                    second = make_record(method, train, test, k, 1, signal=signal, config=config)
                    recs += [first, _deterministic(second, first) if method == "like-ratio" else second]
    for k in (16, 64):  # a subset run, far above chance: its cross-domain axis starts at 50
        recs.append(make_record("like-ratio", "movie", "movie", k, 0, signal=0.6, test_size=100))
        recs.append(make_record("tallrec", "movie", "book", k, 0, signal=0.8, test_size=100, config=LONG))
        recs.append(make_record("tallrec", "movie", "movie", k, 0, signal=0.8, test_size=100, config=LONG))
    return recs


@pytest.fixture(scope="module")
def tables(records):
    return report.aggregate(records, with_statistics=False)


@pytest.fixture(scope="module")
def paper():
    return report.paper_rows()[2]


def _gids(fig) -> list[str]:
    return [a.get_gid() for ax in fig.axes for a in [*ax.lines, *ax.collections, *ax.texts] if a.get_gid()]


def _legend_texts(fig) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def test_both_figures_are_written_as_png_and_pdf_and_stay_compact(tables, paper, tmp_path: Path):
    assert len(tables.rows(None)) == len(ROWS)
    assert max(len(r) for r in tables.rows(None)) > 60  # long labels are wrapped, not allowed to widen
    for size in (None, 100):
        written = (figures.auc_vs_k(tables, size, tmp_path / f"k{size}", paper)
                   + figures.cross_domain(tables, size, tmp_path / f"x{size}"))
        assert sorted(p.suffix for p in written) == [".pdf", ".pdf", ".png", ".png"]
        for path in written:
            head = path.read_bytes()[:4]
            assert head == (b"\x89PNG" if path.suffix == ".png" else b"%PDF")
            if path.suffix == ".png":
                height, width = mpimg.imread(path).shape[:2]
                assert height < 2500 and width < 2500, (path.name, width, height)


def test_every_row_has_its_own_colour_and_marker(tables, paper):
    styles = row_styles(tables, None)
    assert set(styles) == set(tables.rows(None))
    assert len({(s.colour, s.marker) for s in styles.values()}) == len(styles)
    fig = figures.draw_auc_vs_k(tables, None, paper)
    drawn = {}
    for ax in fig.axes:
        for line in ax.lines:
            gid = line.get_gid() or ""
            if gid.startswith(("filled:", "hollow:")):
                drawn.setdefault(gid.split(":", 1)[1], set()).add((line.get_color(), line.get_marker()))
    assert set(drawn) == set(styles)
    assert all(pairs == {(styles[row].colour, styles[row].marker)} for row, pairs in drawn.items())
    plt.close(fig)
    assert row_styles(tables, None) == styles  # the same on every call


def test_a_single_run_is_hollow_and_several_are_filled(tables, paper):
    fig = figures.draw_auc_vs_k(tables, None, paper)
    gids = set(_gids(fig))
    assert "hollow:like-ratio" in gids and "filled:like-ratio" not in gids  # identical seeds: one run
    assert "filled:random" in gids and "hollow:random" not in gids
    hollow = next(line for ax in fig.axes for line in ax.lines if line.get_gid() == "hollow:like-ratio")
    assert hollow.get_markerfacecolor() in ("white", "w", (1.0, 1.0, 1.0, 1.0))
    assert any("hollow" in t and "single run" in t for t in _legend_texts(fig))
    plt.close(fig)


def test_subset_figures_never_draw_the_paper_and_the_full_set_labels_it(tables, paper):
    full = figures.draw_auc_vs_k(tables, None, paper)
    assert "paper" in _gids(full)
    assert any("LLaMA-7B" in t and "published" in t for t in _legend_texts(full))
    assert "full test sets" in full.get_suptitle()
    subset = figures.draw_auc_vs_k(tables, 100, paper)
    assert "paper" not in _gids(subset)
    assert not any("paper" in t.lower() for t in _legend_texts(subset))
    assert "fixed 100-sample test subset" in subset.get_suptitle()
    plt.close(full)
    plt.close(subset)


def test_cross_domain_says_na_and_not_run_and_starts_at_chance(tables):
    fig = figures.draw_cross_domain(tables, None)
    gids = _gids(fig)
    assert "note:n/a" in gids and "note:not run" in gids
    lo, _ = fig.axes[0].get_xlim()
    values = [x for ax in fig.axes for line in ax.lines if (line.get_gid() or "").startswith(("filled", "hollow"))
              for x in line.get_xdata()]
    assert lo <= figures.CHANCE and lo <= min(values)  # below chance only to show a value that is
    assert "full test sets" in fig.get_suptitle()
    plt.close(fig)
    above = figures.draw_cross_domain(tables, 100)  # every value above chance: the axis starts at 50
    assert above.axes[0].get_xlim()[0] == figures.CHANCE
    assert "fixed 100-sample test subset" in above.get_suptitle()
    plt.close(above)


def test_error_bars_are_the_cells_interval(records):
    few = [r for r in records if r["test_size"] is None and r["train"] == r["test"] == "movie" and r["shots"] == 16
           and r["method"] in ("random", "caser")]
    small = report.aggregate(few)
    fig = figures.draw_auc_vs_k(small, None, [])
    for row in ("random", "caser"):
        cell = small.get(None, "movie", "movie", 16, row)
        assert cell.interval is not None
        bars = [c for ax in fig.axes for c in ax.collections if c.get_gid() == f"interval:{row}"]
        assert len(bars) == 1
        (segment,) = bars[0].get_segments()
        ys = sorted(segment[:, 1])
        assert math.isclose(ys[0], 100 * cell.interval[0], abs_tol=1e-9)
        assert math.isclose(ys[1], 100 * cell.interval[1], abs_tol=1e-9)
    plt.close(fig)


def test_a_domain_with_in_domain_cells_only_gets_no_cross_domain_panel(records, monkeypatch):
    import test_report

    monkeypatch.setitem(test_report.LABELS, "movie-temporal", test_report.LABELS["movie"])
    monkeypatch.setitem(test_report.USERS, "movie-temporal", test_report.USERS["movie"])
    extra = [make_record("like-ratio", "movie-temporal", "movie-temporal", k, 0, signal=0.5) for k in (16, 64)]
    fig = figures.draw_cross_domain(report.aggregate(records + extra), None)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("tested on movie" in t for t in titles) and not any("movie-temporal" in t for t in titles)
    assert "trained on movie-temporal" not in [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)
