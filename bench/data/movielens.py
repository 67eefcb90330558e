"""The raw GroupLens MovieLens-100K files (`u.data`, `u.item`), read into ratings and items.

The same ratings ship inside the `recbole` wheel as RecBole atomic files (read by
`bench.data.recbole_atomic`); the two agree on ratings, and 4 of 1682 titles differ (RecBole spells
item 267 `unkonwn`, 3 titles lose a trailing space). The recipe that turns either into samples is
`bench.data.interactions`.
"""

from __future__ import annotations

from pathlib import Path

from bench.data.interactions import Rating
from bench.data.samples import Item
from bench.errors import BenchError


def read_raw_ratings(u_data: Path) -> list[Rating]:
    """`u.data`: tab-separated user, item, rating, timestamp."""
    ratings = []
    for number, line in enumerate(u_data.read_text(encoding="latin-1").splitlines(), start=1):
        try:
            user, item, rating, ts = line.split("\t")
            ratings.append(Rating(user, item, float(rating), int(ts)))
        except ValueError:
            raise BenchError(f"{u_data} line {number} is not `user<TAB>item<TAB>rating<TAB>timestamp`; "
                             "pass the GroupLens u.data file") from None
    return ratings


def read_raw_titles(u_item: Path) -> dict[str, str]:
    """`u.item`: pipe-separated, latin-1; field 2 is "Title (year)"."""
    titles = {}
    for line in u_item.read_text(encoding="latin-1").splitlines():
        fields = line.split("|")
        if len(fields) < 2:
            raise BenchError(f"{u_item}: line {line[:40]!r} has no title field; pass the GroupLens u.item file")
        titles[fields[0]] = fields[1]
    return titles


def read_items(u_item: Path) -> dict[str, Item]:
    return {item_id: Item(id=item_id, title=title) for item_id, title in read_raw_titles(u_item).items()}
