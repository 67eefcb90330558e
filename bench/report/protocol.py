"""The split protocol's effect: the same methods on `movie` (the authors' user-ordered split) and
`movie-temporal` (the same samples split by time), side by side.

Why: on `movie` 99% of the train pool is later than the earliest test target, so a method that reads
the pool's logs (`popularity`, sequential models pretrained on the pool) sees the test period's
popularity; on `movie-temporal` every pool interaction precedes validation and test. The two test sets
are different samples (other users, later in time), so raw AUCs are not paired: the readable number is
each method's gap to the anchor within a domain: the training-free method that reads only the sample
being scored (its `reads` tag), so the pool cannot move it (the built-in one is like-ratio).
"""

from __future__ import annotations

import math

from bench.report.aggregate import Tables
from bench.report.labels import table_labels

PAIR = ("movie", "movie-temporal")


def _anchor(rows: list[str]) -> str | None:
    """The first row (at its defaults) of a training-free method that reads only the sample."""
    from bench.run import registry

    return next((r for r in rows if registry.tag(r, "training_free", False)
                 and registry.tag(r, "reads", frozenset()) == {"sample"}), None)


def _mean(tables: Tables, domain: str, k: int, row: str) -> float:
    cell = tables.get(None, domain, domain, k, row)
    return 100 * cell.mean if cell is not None and cell.records else math.nan


def _text(value: float) -> str:
    return "not run" if math.isnan(value) else f"{value:.2f}"


def _gap(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+.2f}"


def protocol_markdown(tables: Tables) -> str:
    """A table of the rows with full-test-set results on both domains, and one sentence per row on how
    its gap to the anchor moves; empty when either domain has none."""
    shots = tables.shots(None)
    rows = [r for r in tables.rows(None)
            if all(any(not math.isnan(_mean(tables, d, k, r)) for k in shots) for d in PAIR)]
    anchor = _anchor(rows)
    if anchor is None or len(rows) < 2:
        return ""
    ks = [k for k in shots if all(not math.isnan(_mean(tables, d, k, anchor)) for d in PAIR)]
    lines = ["### The split protocol: movie (authors', by user) against movie-temporal (by time)", "",
             "Same MovieLens samples; `movie-temporal` keeps the train pool strictly before validation and test, "
             "while 99% of `movie`'s pool is later than its earliest test target. Each cell: mean AUC x 100 "
             f"over seeds, movie / movie-temporal, and in brackets the gap to {anchor} on each. The test "
             "sets differ (other users, later in time), so read the gaps, not the raw AUCs.", "",
             "| method | " + " | ".join(f"K={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    sentences = []
    labels = table_labels(tables, None)[0]
    for row in rows:
        cells, moves = [], []
        for k in ks:
            a, b = (_mean(tables, d, k, row) for d in PAIR)
            ga, gb = (_mean(tables, d, k, row) - _mean(tables, d, k, anchor) for d in PAIR)
            cells.append(f"{_text(a)} / {_text(b)}" + ("" if row == anchor else f" ({_gap(ga)} / {_gap(gb)})"))
            if not math.isnan(gb - ga):
                moves.append(gb - ga)
        lines.append(f"| {labels[row]} | " + " | ".join(cells) + " |")
        if row != anchor and moves:
            mean_move = sum(moves) / len(moves)
            sentences.append(f"{labels[row]} {mean_move:+.2f}")
    anchor_moves = [_mean(tables, PAIR[1], k, anchor) - _mean(tables, PAIR[0], k, anchor) for k in ks]
    anchor_move = sum(anchor_moves) / len(anchor_moves)
    lines += ["", f"What the protocol changes (each method's gap to {anchor}, movie-temporal minus movie, mean "
              "over K, points): " + ", ".join(sentences) + f". {anchor} itself moves by {anchor_move:+.2f} "
              "between the two test sets (other users, later in time), so a gap moves by about minus that "
              "where the method's own AUC stays put (random): a move says how a method fares against "
              f"{anchor} on each split, and only for a method that reads the pool can it reflect a pool "
              "that saw the test period.", ""]
    return "\n".join(lines)
