"""Reading and writing the TALLRec authors' JSON format (instruction / input / output records).

Book items are written `"Title" written by Author` and titles may hold commas and quotes, so a
list is split on the `" written by ` marker that ends each title (titles never contain it), and
each author runs to the first `, "` that opens the next title. Parsing then re-rendering gives
the released text back exactly; `parse_records` checks that for every record.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from bench.data.prompts import ANSWERS, as_tallrec_record, input_text
from bench.data.samples import HistoryItem, Item, Sample
from bench.errors import BenchError

_BOOK_MARK = '" written by '
_LABELS = {text: label for label, text in ANSWERS.items()}


def _book_id(title: str, author: str) -> str:
    return "b" + hashlib.sha1(f"{title}\x1f{author}".encode()).hexdigest()[:12]


def _parse_book_list(text: str) -> list[Item]:
    if not text:
        return []
    parts = text.split(_BOOK_MARK)
    if not parts[0].startswith('"'):
        raise ValueError(f"book list does not start with a quoted title: {text[:60]!r}")
    titles, authors = [parts[0][1:]], []
    for chunk in parts[1:-1]:
        author, sep, next_title = chunk.partition(', "')
        if not sep:
            raise ValueError(f"cannot find the next title after author {author[:60]!r}")
        authors.append(author)
        titles.append(next_title)
    authors.append(parts[-1])
    return [Item(_book_id(t, a), t, a) for t, a in zip(titles, authors, strict=True)]


def _parse_movie_list(text: str) -> list[Item]:
    titles = re.findall(r'"(.*?)"(?:, |$)', text)
    return [Item(id=title, title=title) for title in titles]


def _parse_item(domain: str, text: str) -> Item:
    items = _parse_book_list(text) if domain == "book" else _parse_movie_list(f'"{text}"')
    if len(items) != 1:
        raise ValueError(f"expected one target item, got {len(items)} in {text[:60]!r}")
    return items[0]


def parse_record(domain: str, record: dict, uid: str) -> Sample:
    lines = record["input"].split("\n")
    prefixes = ("User Preference: ", "User Unpreference: ", f"Whether the user will like the target {domain} \"")
    if len(lines) != 3 or not all(line.startswith(p) for line, p in zip(lines, prefixes, strict=True)):
        raise ValueError("input is not the three-line TALLRec format")
    parse_list = _parse_book_list if domain == "book" else _parse_movie_list
    liked = parse_list(lines[0][len(prefixes[0]) :])
    disliked = parse_list(lines[1][len(prefixes[1]) :])
    target_text = lines[2][len(prefixes[2]) :]
    if not target_text.endswith('"?'):
        raise ValueError("target line does not end with '\"?'")
    if record["output"] not in _LABELS:
        raise ValueError(f"output {record['output']!r} is neither 'Yes.' nor 'No.'")
    return Sample(
        uid=uid,
        domain=domain,
        history=tuple([HistoryItem(i, True) for i in liked] + [HistoryItem(i, False) for i in disliked]),
        target=_parse_item(domain, target_text[:-2]),
        label=_LABELS[record["output"]],
        user=uid,  # the released files carry no user ids: each record counts as its own user
    )


def parse_records(domain: str, records: list[dict], source: str) -> list[Sample]:
    """Parse released records; every sample must render back to its record's text exactly."""
    samples = []
    for index, record in enumerate(records):
        try:
            sample = parse_record(domain, record, uid=f"{source}-{index}")
        except (KeyError, ValueError) as exc:
            raise BenchError(f"{source} record {index} is not in the TALLRec format ({exc})") from exc
        if input_text(sample) != record["input"]:
            raise BenchError(f"{source} record {index} does not round-trip through the parser")
        samples.append(sample)
    return samples


def read_file(domain: str, path: Path, source: str) -> list[Sample]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path} is not valid JSON ({exc}); download it again or check the file") from exc
    return parse_records(domain, records, source)


def write_file(samples: list[Sample], path: Path) -> None:
    """Write samples as the authors did: `json.dump(rows, f, indent=4)`."""
    with open(path, "w") as f:
        json.dump([as_tallrec_record(s) for s in samples], f, indent=4)
