"""The split protocol's effect: the same methods on `movie` (the authors' user-ordered split) and
`movie-temporal` (the same samples split by time), side by side.

Why: on `movie` 99% of the train pool is later than the earliest test target, so a method that reads
the pool's logs (`popularity`, sequential models pretrained on the pool) sees the test period's
popularity; on `movie-temporal` every pool interaction precedes validation and test. The two test sets
are different samples (other users, later in time), so raw AUCs are not paired: the readable number is
each method's gap to `like-ratio` (which reads only the sample's own history) within a domain.
"""

from __future__ import annotations

import math

from bench.report.aggregate import Tables

PAIR = ("movie", "movie-temporal")
ANCHOR = "like-ratio"


def _mean(tables: Tables, domain: str, k: int, row: str) -> float:
    cell = tables.get(None, domain, domain, k, row)
    return 100 * cell.mean if cell is not None and cell.records else math.nan


def _text(value: float) -> str:
    return "not run" if math.isnan(value) else f"{value:.2f}"


def _gap(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+.2f}"


def protocol_markdown(tables: Tables) -> str:
    """A table of the rows with full-test-set results on both domains, and one sentence per row on how
    its gap to like-ratio moves; empty when either domain has none."""
    shots = tables.shots(None)
    rows = [r for r in tables.rows(None)
            if all(any(not math.isnan(_mean(tables, d, k, r)) for k in shots) for d in PAIR)]
    if ANCHOR not in rows or len(rows) < 2:
        return ""
    ks = [k for k in shots if all(not math.isnan(_mean(tables, d, k, ANCHOR)) for d in PAIR)]
    lines = ["### The split protocol: movie (authors', by user) against movie-temporal (by time)", "",
             "Same MovieLens samples; `movie-temporal` keeps the train pool strictly before validation and test, "
             "while 99% of `movie`'s pool is later than its earliest test target. Each cell: mean AUC x 100 "
             "over seeds, movie / movie-temporal, and in brackets the gap to like-ratio on each. The test "
             "sets differ (other users, later in time), so read the gaps, not the raw AUCs.", "",
             "| method | " + " | ".join(f"K={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    sentences = []
    for row in rows:
        cells, moves = [], []
        for k in ks:
            a, b = (_mean(tables, d, k, row) for d in PAIR)
            ga, gb = (_mean(tables, d, k, row) - _mean(tables, d, k, ANCHOR) for d in PAIR)
            cells.append(f"{_text(a)} / {_text(b)}" + ("" if row == ANCHOR else f" ({_gap(ga)} / {_gap(gb)})"))
            if not math.isnan(gb - ga):
                moves.append(gb - ga)
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
        if row != ANCHOR and moves:
            mean_move = sum(moves) / len(moves)
            sentences.append(f"{row} {mean_move:+.2f}")
    anchor_moves = [_mean(tables, PAIR[1], k, ANCHOR) - _mean(tables, PAIR[0], k, ANCHOR) for k in ks]
    anchor_move = sum(anchor_moves) / len(anchor_moves)
    lines += ["", "What the protocol changes (each method's gap to like-ratio, movie-temporal minus movie, mean "
              "over K, points): " + ", ".join(sentences) + f". like-ratio itself moves by {anchor_move:+.2f} "
              "between the two test sets (other users, later in time), so a gap moves by about minus that "
              "where the method's own AUC stays put (random): a move says how a method fares against "
              "like-ratio on each split, and only for a method that reads the pool can it reflect a pool "
              "that saw the test period.", ""]
    return "\n".join(lines)
