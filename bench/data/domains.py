"""Domains: find a card's files, check them, and build its train pool / valid / test samples.

A domain is whatever a card describes (`bench.data.cards`): the built-in `movie`, `book`,
`movie-temporal` and `movie-loo`, or a user's card passed with `--card`. Where a domain's files are looked for, in order
(docs/data.md):
1. an explicit data folder (`--data-dir` or $BENCH_DATA_DIR), laid out like the card's file names (for a
   built-in domain only if the folder holds any of its files or their folder: see `_meant_for`);
2. for a user's card, the folder holding the card;
3. the user cache (`bench data pull DOMAIN` fills it from the canonical URLs, sha256-checked);
4. the card's embedded copy inside an installed package (movie: the MovieLens-100K copy in `recbole`).
Every file whose sha256 the card gives is checked before use. A card without checksums still runs, and
every record says which of its files were unchecked.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from bench.data import cards, interactions, movielens, recbole_atomic, tallrec_json
from bench.data.cards import Card
from bench.data.samples import Sample, fingerprint
from bench.errors import BenchError
from bench.paths import cache_dir, data_dir_from_env


def builtin_domains() -> tuple[str, ...]:
    return tuple(cards.builtin_cards())


def load_card(domain: str) -> dict:
    """The raw fields of a domain's card (the TOML as a dict)."""
    return cards.get(domain).raw


@dataclass
class DomainData:
    """A domain's samples and where they came from (recorded with every result)."""

    name: str
    source: str  # "data-dir", "card-folder", "cache" or "embedded-<package>"
    location: str
    train: list[Sample]
    valid: list[Sample]
    test: list[Sample]
    fingerprints: dict[str, str] = field(default_factory=dict)
    card: str = ""  # the card's path (built-in: datasets/<name>.toml) and
    card_sha256: str = ""  # a digest of its text
    unchecked_files: list[str] = field(default_factory=list)  # files read without a checksum to compare
    users_left_out: int = 0  # users of a log with too few interactions for a test sample

    def split(self, name: str) -> list[Sample]:
        if name not in ("train", "valid", "test"):
            raise BenchError(f"unknown split {name!r}; choose train, valid or test")
        return getattr(self, name)

    def provenance(self) -> dict:
        """What a record says about this domain's data."""
        return {"source": self.source, "location": self.location, "fingerprints": self.fingerprints,
                "card": self.card, "card_sha256": self.card_sha256,
                "files_checked": not self.unchecked_files, "unchecked_files": self.unchecked_files}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_file(path: Path, expected: str, how_to_get: str) -> None:
    """Raise a BenchError naming the file, the expected checksum and how to get it."""
    if not path.is_file():
        raise BenchError(f"missing data file {path} (expected sha256 {expected}); {how_to_get}")
    actual = sha256_of(path)
    if actual != expected:
        raise BenchError(
            f"corrupt or unexpected data file {path}: sha256 {actual}, expected {expected}; {how_to_get} "
            "(your own data? describe it in a card without checksums and pass --card FILE)"
        )


def _how_to_get(card: Card, name: str) -> str:
    if not card.builtin:
        return f"fix the path in {card.path} or pass --data-dir with the folder that holds it"
    url = card.files.get(name, {}).get("url") or card.raw.get("archive_url")
    return f"run `bench data pull {card.name}` (downloads {url}) or pass --data-dir with a checked copy"


def _present(root: Path, files: list[str]) -> bool:
    return all((root / name).is_file() for name in files)


def _meant_for(root: Path, card: Card) -> bool:
    """A data folder that holds any of a built-in card's files, or their folder (`ml-100k/`), is meant
    to hold that domain: a missing or corrupt file there is an error, not a reason to look elsewhere. A
    folder with none of it (a user's own dataset) leaves the built-in domain to the cache and the
    embedded copy, recorded as such."""
    return any((root / name).exists() or (root / name).parent != root and (root / name).parent.is_dir()
               for name in card.source_files())


def _checked(card: Card, root: Path, files: list[str], checksums: dict[str, dict]) -> list[str]:
    """Check every file the card has a sha256 for; return the ones it has none for."""
    unchecked = []
    for name in files:
        meta = checksums.get(name, {})
        if meta.get("sha256"):
            check_file(root / name, meta["sha256"], _how_to_get(card, name))
        elif not (root / name).is_file():
            raise BenchError(f"missing data file {root / name} (card {card.path}); {_how_to_get(card, name)}")
        else:
            unchecked.append(name)
    return unchecked


def _optional_train_json(card: Card, source: dict, root: Path) -> list[str]:
    if source["format"] == "tallrec-json" and (root / source["folder"] / "train.json").is_file():
        return [f"{source['folder']}/train.json"]
    return []


def _json_splits(card: Card, source: dict, root: Path) -> dict[str, list[Sample]]:
    folder = root / source["folder"]

    def read(stem: str) -> list[Sample]:
        return tallrec_json.read_file(card.name, folder / f"{stem}.json", f"{card.name}-{stem}",
                                      style=source["items"], noun=card.noun)

    valid, test = read("valid"), read("test")
    if (folder / "train.json").is_file():
        pool = read("train")
    elif source["pool_from_valid"] is None:
        raise BenchError(f"card {card.path}: {folder} has no train.json; add it, or set source.pool_from_valid = N "
                         "to take the first N records of valid.json as the train pool")
    else:
        n = source["pool_from_valid"]
        if n >= len(valid):
            raise BenchError(f"card {card.path}: source.pool_from_valid = {n} leaves no validation records "
                             f"(valid.json holds {len(valid)}); choose fewer than {len(valid)}")
        pool, valid = valid[:n], valid[n:]
    splits = {"train": pool, "valid": valid, "test": test}
    for split, samples in splits.items():
        liked = sum(s.label for s in samples)
        if split != "train" and liked in (0, len(samples)):
            raise BenchError(f"card {card.path}: the {split} records are all {'No.' if liked == 0 else 'Yes.'}; "
                             "an AUC needs both answers: use a file with both")
    return splits


def _build(card: Card, source: dict, kind: str, root: Path, unchecked: list[str]) -> DomainData:
    fmt = source["format"]
    left_out = 0
    if fmt == "tallrec-json":
        splits = _json_splits(card, source, root)
    else:
        if fmt == "movielens":
            ratings = movielens.read_raw_ratings(root / source["ratings"])
            items = movielens.read_items(root / source["items"])
        else:
            ratings = recbole_atomic.read_ratings(root / source["inter"], source, card.path)
            items = recbole_atomic.read_items(root / source["item"], source, card.path)
        splits = interactions.build_splits(ratings, items, card.recipe, card.name, card.noun,
                                           where=f"card {card.path}")
        left_out = interactions.users_left_out(ratings, card.recipe)
    return DomainData(
        name=card.name, source=kind, location=str(root), card=card.path, card_sha256=card.sha256,
        unchecked_files=unchecked, users_left_out=left_out,
        fingerprints={split: fingerprint(samples) for split, samples in splits.items()},
        **splits,
    )


def _embedded_folder(card: Card) -> Path:
    embedded = card.embedded
    spec = importlib.util.find_spec(embedded["package"])
    if spec is None or spec.origin is None:
        raise BenchError(f"no {card.name} data: {embedded['package']} is not installed and no --data-dir was given; "
                         f"install the project (pip install -e .) or run `bench data pull {card.name}`")
    return Path(spec.origin).parent / embedded["folder"]


def _from_root(card: Card, kind: str, root: Path) -> DomainData:
    source = {"format": card.format, **card.source}
    files = card.source_files() + _optional_train_json(card, source, root)
    return _build(card, source, kind, root, _checked(card, root, files, card.files))


@functools.lru_cache(maxsize=16)
def _load(name: str, card_path: str, card_sha256: str, data_dir: Path | None) -> DomainData:
    card = cards.get(name)
    source = {"format": card.format, **card.source}
    if data_dir is not None:
        if data_dir.is_file():
            raise BenchError(f"--data-dir {data_dir} is a file, not a folder; pass the folder that holds "
                             f"{card.source_files()[0]} (see the card {card.path})")
        if not data_dir.is_dir():
            raise BenchError(f"data folder {data_dir} does not exist; pass --data-dir with an existing folder "
                             f"(or unset BENCH_DATA_DIR)")
        if _present(data_dir, card.source_files()) or (card.builtin and _meant_for(data_dir, card)):
            return _from_root(card, "data-dir", data_dir)
    if not card.builtin:
        return _from_root(card, "card-folder", Path(card.path).parent)
    cached = cache_dir() / "data"
    if _present(cached, card.source_files(source)):
        return _from_root(card, "cache", cached)
    if card.embedded:
        folder = _embedded_folder(card)
        embedded = card.embedded["source"]
        files = card.source_files(embedded)
        unchecked = _checked(card, folder, files, card.embedded.get("files", {}))
        return _build(card, embedded, f"embedded-{card.embedded['package']}", folder, unchecked)
    name0 = card.source_files()[0]
    raise BenchError(f"no {card.name} data: {cached / name0} not found; {_how_to_get(card, name0)}")


def load_domain(domain: str, data_dir: Path | None = None) -> DomainData:
    """Samples for `domain` (a built-in or registered card); `data_dir` falls back to $BENCH_DATA_DIR.
    Loaded once per process and card."""
    card = cards.get(domain)  # validates the name before anything else
    data_dir = data_dir or data_dir_from_env()
    return _load(domain, card.path, card.sha256, Path(data_dir).resolve() if data_dir else None)


def pull(domain: str) -> Path:
    """Download a built-in domain's files into the user cache, checking every sha256; returns the folder."""
    import pooch
    import requests

    card = cards.get(domain)
    if not card.builtin or not (card.raw.get("archive_url") or any("url" in m for m in card.files.values())):
        raise BenchError(f"domain {domain} has no download URL in its card; pass --data-dir with your copy")
    target = cache_dir() / "data"
    try:
        if "archive_url" in card.raw:  # the zip's own checksum is not published: its members are checked below
            pooch.retrieve(card.raw["archive_url"], known_hash=None, path=target / "downloads",
                           processor=pooch.Unzip(members=[m["member"] for m in card.files.values()],
                                                 extract_dir=str(target)), progressbar=True)
        else:
            for name, meta in card.files.items():
                path = target / name
                pooch.retrieve(meta["url"], known_hash=f"sha256:{meta['sha256']}", fname=path.name,
                               path=path.parent, progressbar=True)
    except requests.RequestException as exc:
        raise BenchError(f"cannot download the {domain} data ({exc.__class__.__name__}: {exc}); check the "
                         "connection, or download the files yourself and pass --data-dir") from exc
    except ValueError as exc:  # pooch: the downloaded file's hash does not match the card
        raise BenchError(f"downloaded {domain} data failed its checksum ({exc}); try again later, or "
                         "download the files yourself and pass --data-dir") from exc
    _checked(card, target, list(card.files), card.files)
    return target
