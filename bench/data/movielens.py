"""The `movie` domain: the TALLRec authors' recipe applied to MovieLens-100K ratings.

Recipe (reproduces the released valid.json/test.json byte for byte, see docs/data.md):
rating > 3 is a like; per user, interactions sorted by timestamp (stable sort); every position
i >= 10 gives one sample (history = the 10 items before it, target = item i); users in order of
first appearance in the ratings file; keep the last 10,000 samples; split 80/10/10 in order.

Ratings come either from the raw GroupLens files (`u.data`, `u.item`) or from the RecBole atomic
copy (`ml-100k.inter`, `ml-100k.item`) inside the installed `recbole` wheel. The two agree on
ratings; 4 of 1682 titles differ (RecBole spells item 267 `unkonwn`, 3 titles lose a trailing space).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.data.samples import HistoryItem, Item, Sample

HISTORY_LENGTH = 10
KEEP_LAST = 10_000
SPLIT_SIZES = {"train": 8000, "valid": 1000, "test": 1000}


@dataclass(frozen=True)
class Rating:
    user: str
    item: str
    rating: float
    timestamp: int


def read_raw_ratings(u_data: Path) -> list[Rating]:
    """`u.data`: tab-separated user, item, rating, timestamp."""
    ratings = []
    for line in u_data.read_text(encoding="latin-1").splitlines():
        user, item, rating, ts = line.split("\t")
        ratings.append(Rating(user, item, float(rating), int(ts)))
    return ratings


def read_raw_titles(u_item: Path) -> dict[str, str]:
    """`u.item`: pipe-separated, latin-1; field 2 is "Title (year)"."""
    titles = {}
    for line in u_item.read_text(encoding="latin-1").splitlines():
        fields = line.split("|")
        titles[fields[0]] = fields[1]
    return titles


def _atomic_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = [column.split(":")[0] for column in lines[0].split("\t")]
    return header, [line.split("\t") for line in lines[1:]]


def read_atomic_ratings(inter: Path) -> list[Rating]:
    """RecBole's `ml-100k.inter`: same rows as `u.data`, with a typed header."""
    header, rows = _atomic_rows(inter)
    u, i, r, t = (header.index(c) for c in ("user_id", "item_id", "rating", "timestamp"))
    return [Rating(row[u], row[i], float(row[r]), int(float(row[t]))) for row in rows]


def read_atomic_titles(item_file: Path) -> dict[str, str]:
    """RecBole's `ml-100k.item` splits "Title (year)" into title and year; join them back."""
    header, rows = _atomic_rows(item_file)
    i, title, year = (header.index(c) for c in ("item_id", "movie_title", "release_year"))
    titles = {}
    for row in rows:
        titles[row[i]] = f"{row[title]} ({row[year]})" if row[year] else row[title]
    return titles


def build_splits(ratings: list[Rating], titles: dict[str, str]) -> dict[str, list[Sample]]:
    """Apply the authors' recipe; returns {"train": 8000, "valid": 1000, "test": 1000} samples."""
    by_user: dict[str, list[Rating]] = {}
    for rating in ratings:  # dicts keep first-appearance order
        by_user.setdefault(rating.user, []).append(rating)
    records: list[tuple[str, int, list[Rating]]] = []
    for user, user_ratings in by_user.items():
        ordered = sorted(user_ratings, key=lambda r: r.timestamp)  # stable
        for i in range(HISTORY_LENGTH, len(ordered)):
            records.append((user, i, ordered[i - HISTORY_LENGTH : i + 1]))
    records = records[-KEEP_LAST:]

    def to_sample(split: str, user: str, position: int, window: list[Rating]) -> Sample:
        def item(r: Rating) -> Item:
            return Item(id=r.item, title=titles[r.item])

        return Sample(
            uid=f"u{user}-{position}",
            domain="movie",
            history=tuple(HistoryItem(item(r), r.rating > 3) for r in window[:-1]),
            target=item(window[-1]),
            label=int(window[-1].rating > 3),
            user=user,
            timestamp=window[-1].timestamp,
        )

    splits: dict[str, list[Sample]] = {}
    start = 0
    for split, size in SPLIT_SIZES.items():
        splits[split] = [to_sample(split, *rec) for rec in records[start : start + size]]
        start += size
    return splits
