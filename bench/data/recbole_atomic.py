"""RecBole atomic files: the format of RecBole's 40+ public datasets (MovieLens, Amazon, Yelp, ...).

An atomic file is tab-separated with a typed header (`user_id:token	item_id:token	rating:float ...`).
The card names the fields: the `.inter` file's user, item, rating and timestamp, and the `.item` file's
title and, where the data has them, year (rendered "Title (year)", as MovieLens titles are) and author
(rendered `"Title" written by Author`, as the authors' book files are).
"""

from __future__ import annotations

from pathlib import Path

from bench.data.interactions import Rating
from bench.data.samples import Item
from bench.errors import BenchError


def _rows(path: Path, wanted: dict[str, str | None], card: str) -> tuple[dict[str, int], list[list[str]]]:
    """Column index of each wanted field (a card field name -> the file's field name), and the rows."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise BenchError(f"{path} is empty; pass the RecBole atomic file the card {card} names")
    header = [column.split(":")[0] for column in lines[0].split("\t")]
    index = {}
    for card_field, column in wanted.items():
        if column is None:
            continue
        if column not in header:
            raise BenchError(f"{path} has no column {column!r} (card {card}, source.{card_field}); its columns are "
                             f"{', '.join(header)}: set source.{card_field} to one of them")
        index[card_field] = header.index(column)
    rows = [line.split("\t") for line in lines[1:] if line]
    short = next((n for n, row in enumerate(rows, start=2) if len(row) < len(header)), None)
    if short is not None:
        raise BenchError(f"{path} line {short} has fewer fields than its header; check the file")
    return index, rows


def _number(path: Path, value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise BenchError(f"{path}: {what} {value!r} is not a number; check the card's field names") from None


def read_ratings(inter: Path, source: dict, card: str) -> list[Rating]:
    """The `.inter` file's interactions, in file order."""
    index, rows = _rows(inter, {f: source[f] for f in ("user_field", "item_field", "rating_field", "time_field")},
                        card)
    u, i, r, t = (index[f] for f in ("user_field", "item_field", "rating_field", "time_field"))
    return [Rating(row[u], row[i], _number(inter, row[r], "rating"), int(_number(inter, row[t], "timestamp")))
            for row in rows]


def read_items(item_file: Path, source: dict, card: str) -> dict[str, Item]:
    """Item id -> Item from the `.item` file; titles with a year field become "Title (year)"."""
    index, rows = _rows(item_file, {f: source[f] for f in ("item_field", "title_field", "year_field",
                                                          "author_field")}, card)
    items = {}
    for row in rows:
        title = row[index["title_field"]]
        year = row[index["year_field"]] if "year_field" in index else ""
        author = row[index["author_field"]] if "author_field" in index else None
        item_id = row[index["item_field"]]
        items[item_id] = Item(id=item_id, title=f"{title} ({year})" if year else title, author=author)
    return items
