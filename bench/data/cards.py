"""Data cards: a domain is whatever a card describes (its source files, their format, the recipe that
turns them into samples, and the files' sha256 where known).

Built-in cards live in datasets/*.toml; users pass their own with `--card FILE` (or a folder of cards).
A card is read and validated here, once, so every later step can trust its fields; every problem is a
one-line error naming the card, the field and the fix. Card fields (docs/data.md has the full list):

    name = "mydata"                  # the domain's name (--train/--test)
    noun = "product"                 # the item noun in the prompt (default: the name)
    [source]
    format = "recbole-atomic"        # or "movielens" (GroupLens u.data/u.item), "tallrec-json"
    ...                              # the format's files and fields (SOURCE_FIELDS)
    [recipe]                         # log formats only: how interactions become samples
    protocol = "authors"             # or "temporal", "leave-last-out"
    like_above = 3                   # rating > like_above is a like
    [files."relative/path"]          # optional: a checksum makes the file checked
    sha256 = "..."
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bench.errors import BenchError

FORMATS = ("movielens", "recbole-atomic", "tallrec-json")
PROTOCOLS = ("authors", "temporal", "leave-last-out")
ITEM_STYLES = ("title", "title-author")

# Per format: required source fields, then optional ones with their defaults.
SOURCE_FIELDS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "movielens": (("ratings", "items"), {}),
    "recbole-atomic": (("inter", "item", "title_field"),
                       {"user_field": "user_id", "item_field": "item_id", "rating_field": "rating",
                        "time_field": "timestamp", "year_field": None, "author_field": None}),
    "tallrec-json": (("folder",), {"items": "title", "pool_from_valid": None}),
}
TOP_LEVEL = {"name", "noun", "description", "license", "citation", "source", "recipe", "files", "archive_url",
             "embedded", "exports"}
RECIPE_DEFAULTS: dict[str, Any] = {"protocol": "authors", "like_above": 3.0, "history": 10, "keep_last": None,
                                   "split": [80, 10, 10], "past": 50}


@dataclass(frozen=True)
class Recipe:
    """How a log of ratings becomes samples (the TALLRec authors' recipe, as parameters).

    `authors`: users in order of first appearance, per user every position >= `history` gives a sample,
    keep the last `keep_last`, split `split` percent in that order. `temporal`: the same samples ordered
    by the target's time; test = the latest, validation before it, train pool strictly before the
    validation period. `leave-last-out`: per user, the last sample is test, the one before validation,
    the earlier ones the pool (`keep_last` then caps the pool at its latest samples in time)."""

    protocol: str = "authors"
    like_above: float = 3.0
    history: int = 10
    keep_last: int | None = None
    split: tuple[int, int, int] = (80, 10, 10)
    past: int = 50  # how much of the user's past before the target a sample carries (for retrieval)


@dataclass(frozen=True)
class Card:
    name: str
    noun: str
    format: str
    source: dict[str, Any]
    recipe: Recipe | None
    files: dict[str, dict[str, str]]  # relative path -> {"sha256": ..., "url"/"member": ...}
    embedded: dict[str, Any] | None  # a copy inside an installed package: {package, folder, source, files}
    path: str  # where the card was read from
    sha256: str  # of the card's text: records name the exact card
    builtin: bool
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def source_files(self, source: dict[str, Any] | None = None) -> list[str]:
        """The files `source` (default: the card's own) reads, relative to its data folder."""
        s = source or {"format": self.format, **self.source}
        if s["format"] == "movielens":
            return [s["ratings"], s["items"]]
        if s["format"] == "recbole-atomic":
            return [s["inter"], s["item"]]
        names = ["valid.json", "test.json"]
        return [f"{s['folder']}/{n}" for n in names]

    def describe(self) -> str:
        """One line for `bench list`: format, protocol, where the card is."""
        recipe = f", {self.recipe.protocol} protocol" if self.recipe else ""
        return f"{self.format}{recipe}; {'built-in' if self.builtin else self.path}; item noun {self.noun!r}"


def _builtin_folder():
    """A source checkout (or editable install) reads datasets/; a built wheel carries it as bench.cards."""
    checkout = Path(__file__).resolve().parents[2] / "datasets"
    return checkout if checkout.is_dir() else resources.files("bench.cards")


def _require(where: str, table: dict, name: str, kind: type | tuple[type, ...], fix: str) -> Any:
    if name not in table:
        raise BenchError(f"card {where}: missing field `{name}`; {fix}")
    value = table[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise BenchError(f"card {where}: field `{name}` = {value!r} has the wrong type; {fix}")
    return value


def _recipe(where: str, table: Any) -> Recipe:
    if not isinstance(table, dict):
        raise BenchError(f"card {where}: [recipe] must be a table; see docs/data.md")
    unknown = set(table) - set(RECIPE_DEFAULTS)
    if unknown:
        raise BenchError(f"card {where}: unknown [recipe] field(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(RECIPE_DEFAULTS)}")
    values = {**RECIPE_DEFAULTS, **table}
    if values["protocol"] not in PROTOCOLS:
        raise BenchError(f"card {where}: recipe.protocol = {values['protocol']!r}; choose one of: "
                         f"{', '.join(PROTOCOLS)}")
    if values["protocol"] == "leave-last-out" and "split" in table:
        raise BenchError(f"card {where}: recipe.split does not apply to protocol leave-last-out (each user's last "
                         "sample is test, the one before validation, the rest the pool); remove it")
    split = values["split"]
    if (not isinstance(split, list) or len(split) != 3 or not all(isinstance(p, int) and p > 0 for p in split)
            or sum(split) != 100):
        raise BenchError(f"card {where}: recipe.split = {split!r}; give three positive whole percentages for "
                         "train pool, validation and test that sum to 100, e.g. [80, 10, 10]")
    if not isinstance(values["history"], int) or values["history"] < 1:
        raise BenchError(f"card {where}: recipe.history = {values['history']!r}; give a whole number >= 1")
    if values["keep_last"] is not None and (not isinstance(values["keep_last"], int) or values["keep_last"] < 3):
        raise BenchError(f"card {where}: recipe.keep_last = {values['keep_last']!r}; give a whole number of "
                         "samples (>= 3), or leave it out to keep all")
    if not isinstance(values["past"], int) or values["past"] < values["history"]:
        raise BenchError(f"card {where}: recipe.past = {values['past']!r}; give a whole number >= recipe.history "
                         f"({values['history']})")
    if not isinstance(values["like_above"], int | float):
        raise BenchError(f"card {where}: recipe.like_above = {values['like_above']!r}; give a number "
                         "(a rating above it is a like)")
    return Recipe(values["protocol"], float(values["like_above"]), values["history"], values["keep_last"],
                  tuple(split), values["past"])


def parse(text: str, path: str, builtin: bool = False) -> Card:
    """Validate a card's TOML text; `path` names it in errors."""
    where = path
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"card {where} is not valid TOML ({exc}); fix the syntax") from exc
    name = _require(where, raw, "name", str, "add e.g. name = \"mydata\" (the domain's name for --train/--test)")
    if not name or not all(c.isalnum() or c in "-_" for c in name) or name == "both":
        raise BenchError(f"card {where}: name = {name!r}; use letters, digits, '-' and '_' (not 'both')")
    noun = raw.get("noun", name)
    if not isinstance(noun, str) or not noun.strip():
        raise BenchError(f"card {where}: noun = {noun!r}; give the item noun the prompt uses, e.g. \"product\"")
    unknown = set(raw) - TOP_LEVEL
    if unknown:
        raise BenchError(f"card {where}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(TOP_LEVEL))}")
    fmt, source = _source(where, _require(where, raw, "source", dict,
                                          "add a [source] table with `format` and its files (docs/data.md)"))
    if fmt == "tallrec-json":
        if "recipe" in raw:
            raise BenchError(f"card {where}: a tallrec-json source is already split; remove [recipe]")
        recipe = None
    else:
        recipe = _recipe(where, raw.get("recipe", {}))
    embedded = raw.get("embedded")
    if embedded is not None:
        for key in ("package", "folder"):
            _require(f"{where} [embedded]", embedded, key, str, "name the package and its data folder")
        embedded_format, embedded_source = _source(f"{where} [embedded]", _require(
            f"{where} [embedded]", embedded, "source", dict, "add [embedded.source] with its format and files"))
        if (embedded_format == "tallrec-json") != (fmt == "tallrec-json"):
            raise BenchError(f"card {where}: [embedded.source] must be a log format like [source]")
        embedded = {**embedded, "source": {"format": embedded_format, **embedded_source}}
        _check_files(where, embedded.get("files", {}))
    files = raw.get("files", {})
    _check_files(where, files)
    return Card(name=name, noun=noun.strip(), format=fmt, source=source, recipe=recipe, files=files,
                embedded=embedded, path=path, sha256=hashlib.sha256(text.encode()).hexdigest()[:16],
                builtin=builtin, raw=raw)


def _source(where: str, source: dict) -> tuple[str, dict[str, Any]]:
    """The validated format and fields (defaults filled in) of a [source] table."""
    fmt = _require(f"{where} [source]", source, "format", str, f"set format to one of: {', '.join(FORMATS)}")
    if fmt not in FORMATS:
        raise BenchError(f"card {where}: source.format = {fmt!r}; choose one of: {', '.join(FORMATS)}")
    required, optional = SOURCE_FIELDS[fmt]
    for key in required:
        _require(f"{where} [source]", source, key, str, f"a {fmt} source names `{key}` (docs/data.md)")
    unknown = set(source) - {"format", *required, *optional}
    if unknown:
        raise BenchError(f"card {where}: unknown [source] field(s) {', '.join(sorted(unknown))} for format {fmt}; "
                         f"known: {', '.join([*required, *optional])}")
    source = {**optional, **{k: v for k, v in source.items() if k != "format"}}
    if fmt == "tallrec-json":
        if source["items"] not in ITEM_STYLES:
            raise BenchError(f"card {where}: source.items = {source['items']!r}; choose \"title\" (items written "
                             "\"Title\") or \"title-author\" (items written \"Title\" written by Author)")
        pool = source["pool_from_valid"]
        if pool is not None and (not isinstance(pool, int) or isinstance(pool, bool) or pool < 1):
            raise BenchError(f"card {where}: source.pool_from_valid = {pool!r}; give the number of valid.json "
                             "records (from its start) that form the train pool")
    return fmt, source


def _check_files(where: str, files: Any) -> None:
    if not isinstance(files, dict) or not all(isinstance(m, dict) for m in files.values()):
        raise BenchError(f"card {where}: [files] must hold one table per file, e.g. [files.\"ratings.inter\"] "
                         "sha256 = \"...\"")
    for rel, meta in files.items():
        sha = meta.get("sha256")
        if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
            raise BenchError(f"card {where}: files.\"{rel}\".sha256 is not a 64-character hex digest; "
                             f"use the output of `sha256sum {rel}`")


def builtin_cards() -> dict[str, Card]:
    folder = _builtin_folder()
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            card = parse(entry.read_text(), f"datasets/{entry.name}", builtin=True)
            found[card.name] = card
    return found


#: Built-in domains in report order; cards a user adds come after them.
BUILTIN_ORDER = ("movie", "book", "movie-temporal", "movie-loo")
_USER_CARDS: dict[str, Card] = {}
_REGISTERED: dict[tuple, list[Card]] = {}  # card files (path, mtime, size) -> their cards, read once


def read_cards(path: Path) -> list[Card]:
    """The card in `path`, or every *.toml card in the folder `path`."""
    if path.is_dir():
        files = sorted(path.glob("*.toml"))
        if not files:
            raise BenchError(f"--card {path}: the folder holds no *.toml card; pass a card file or a folder of them")
    elif path.is_file():
        files = [path]
    else:
        raise BenchError(f"--card {path}: no such file or folder; pass the path of a TOML card")
    return [parse(f.read_text(encoding="utf-8"), str(f.resolve())) for f in files]


def register(paths: list[str] | tuple[str, ...]) -> list[Card]:
    """Make the user's cards known to this process (the CLI, and each task that runs cells, calls it).
    A user card may not take a built-in domain's name; names must be unique among the cards given.
    Unchanged card files are read once per process (plan, audits and every group of cells call this)."""
    key = _files_key(paths)
    if key is not None and key in _REGISTERED:
        _USER_CARDS.update({card.name: card for card in _REGISTERED[key]})
        return list(_REGISTERED[key])
    cards = [c for p in paths for c in read_cards(Path(p))]
    builtin = builtin_cards()
    seen: dict[str, str] = {}
    for card in cards:
        if card.name in builtin:
            raise BenchError(f"card {card.path}: name {card.name!r} is a built-in domain; choose another name")
        if card.name in seen:
            raise BenchError(f"cards {seen[card.name]} and {card.path} both name domain {card.name!r}; "
                             "rename one")
        seen[card.name] = card.path
    for card in cards:
        _USER_CARDS[card.name] = card
    if key is not None:
        _REGISTERED[key] = list(cards)
    return cards


def _files_key(paths: list[str] | tuple[str, ...]) -> tuple | None:
    """The card files behind `paths` with their size and modification time: an edited, added or removed
    card is read again. None when a path cannot be listed (read_cards then says what is wrong)."""
    try:
        files = [f for p in map(Path, paths) for f in (sorted(p.glob("*.toml")) if p.is_dir() else [p])]
        return tuple((str(f.resolve()), st.st_mtime_ns, st.st_size) for f in files for st in [f.stat()])
    except OSError:
        return None


def all_cards() -> dict[str, Card]:
    """Built-in cards (in report order), then the registered user cards."""
    builtin = builtin_cards()
    ordered = {n: builtin[n] for n in BUILTIN_ORDER if n in builtin}
    return {**ordered, **builtin, **_USER_CARDS}


def get(name: str) -> Card:
    cards = all_cards()
    if name not in cards:
        raise BenchError(f"unknown domain {name!r}; choose one of: {', '.join(cards)} "
                         "(or describe your data in a card and pass --card FILE)")
    return cards[name]


def domain_order(names) -> list[str]:
    """Domains in report order: built-ins first, then the rest by name."""
    names = set(names)
    return [n for n in BUILTIN_ORDER if n in names] + sorted(names - set(BUILTIN_ORDER))
