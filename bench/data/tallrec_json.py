"""Reading and writing the TALLRec authors' JSON format (instruction / input / output records).

Items are written either `"Title"` (style `title`, the movie files) or `"Title" written by Author`
(style `title-author`, the book files). Titles may hold commas and quotes, so a title-author list is
split on the `" written by ` marker that ends each title (titles never contain it), and each author
runs to the `, "` that opens the next title. Where an author (or the next title) itself holds `, "`,
the text has two readings: that record is an error naming it, never a silent guess. Parsing then
re-rendering gives the text back exactly; `parse_records` checks that for every record.
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
        if chunk.count(', "') > 1:
            raise ValueError(f"ambiguous item list: {chunk[:80]!r} holds ', \"' more than once, so where the "
                             "author ends and the next title starts cannot be told; remove ', \"' from that "
                             "author or title")
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


STYLES = {"title": _parse_movie_list, "title-author": _parse_book_list}


def _parse_item(style: str, text: str) -> Item:
    items = _parse_book_list(text) if style == "title-author" else _parse_movie_list(f'"{text}"')
    if len(items) != 1:
        raise ValueError(f"expected one target item, got {len(items)} in {text[:60]!r}")
    return items[0]


def parse_record(domain: str, record: dict, uid: str, style: str | None = None, noun: str | None = None) -> Sample:
    """One record as a sample of `domain`; `style` (how items are written) and `noun` (the prompt's item
    noun) default to the built-in movie and book domains' ones."""
    style = style or ("title-author" if domain == "book" else "title")
    noun = noun or domain
    lines = record["input"].split("\n")
    prefixes = ("User Preference: ", "User Unpreference: ", f"Whether the user will like the target {noun} \"")
    if len(lines) != 3 or not all(line.startswith(p) for line, p in zip(lines, prefixes, strict=True)):
        raise ValueError(f"input is not the three-line TALLRec format (about a {noun!r})")
    parse_list = STYLES[style]
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
        target=_parse_item(style, target_text[:-2]),
        label=_LABELS[record["output"]],
        user=uid,  # the released files carry no user ids: each record counts as its own user
        item_noun=noun,
    )


def parse_records(domain: str, records: list[dict], source: str, style: str | None = None,
                  noun: str | None = None, where: str | None = None) -> list[Sample]:
    """Parse released records; every sample must render back to its record's text exactly. `where`
    names the file in errors (default: `source`)."""
    where = where or source
    if not isinstance(records, list):
        raise BenchError(f"{where} holds no list of records; the TALLRec format is a JSON list of "
                         "{instruction, input, output} objects")
    samples = []
    for index, record in enumerate(records):
        try:
            sample = parse_record(domain, record, uid=f"{source}-{index}", style=style, noun=noun)
        except (KeyError, ValueError, TypeError) as exc:
            raise BenchError(f"{where} record {index} is not in the TALLRec format ({exc})") from exc
        if input_text(sample) != record["input"]:
            raise BenchError(f"{where} record {index} does not read back to its own text (items written in "
                             f"another style than {style or 'the domain default'!r}?); check the card's "
                             "source.items")
        samples.append(sample)
    return samples


def read_file(domain: str, path: Path, source: str, style: str | None = None,
              noun: str | None = None) -> list[Sample]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path} is not valid JSON ({exc}); download it again or check the file") from exc
    return parse_records(domain, records, source, style, noun, where=str(path))


def write_file(samples: list[Sample], path: Path) -> None:
    """Write samples as the authors did: `json.dump(rows, f, indent=4)`."""
    with open(path, "w") as f:
        json.dump([as_tallrec_record(s) for s in samples], f, indent=4)
