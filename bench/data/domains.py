"""Domains: find the data files, check them, and build train pool / valid / test samples.

Resolution order for each domain (docs/data.md):
1. an explicit data folder (`--data-dir` or $BENCH_DATA_DIR), laid out like the card's file names;
2. the user cache (`bench data pull DOMAIN` fills it from the canonical URLs, sha256-checked);
3. for `movie` only, the MovieLens-100K copy inside the installed `recbole` wheel (embedded default).
Every file is sha256-checked against its card before use.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bench.data import movielens, tallrec_json
from bench.data.samples import Sample, fingerprint
from bench.errors import BenchError
from bench.paths import cache_dir, data_dir_from_env

DOMAINS = ("movie", "book")


def _cards_folder():
    """A source checkout (or editable install) reads datasets/; a built wheel carries it as bench.cards."""
    checkout = Path(__file__).resolve().parents[2] / "datasets"
    return checkout if checkout.is_dir() else resources.files("bench.cards")


def load_card(domain: str) -> dict:
    """The domain's data card from datasets/<domain>.toml."""
    if domain not in DOMAINS:
        raise BenchError(f"unknown domain {domain!r}; choose one of: {', '.join(DOMAINS)}")
    return tomllib.loads(_cards_folder().joinpath(f"{domain}.toml").read_text())


@dataclass
class DomainData:
    """A domain's samples and where they came from (recorded with every result)."""

    name: str
    source: str  # "data-dir", "cache" or "embedded-recbole"
    location: str
    train: list[Sample]
    valid: list[Sample]
    test: list[Sample]
    fingerprints: dict[str, str] = field(default_factory=dict)

    def split(self, name: str) -> list[Sample]:
        if name not in ("train", "valid", "test"):
            raise BenchError(f"unknown split {name!r}; choose train, valid or test")
        return getattr(self, name)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_file(path: Path, expected: str, how_to_get: str) -> None:
    """Raise a BenchError naming the file, the expected checksum and how to get it."""
    if not path.is_file():
        raise BenchError(f"missing data file {path} (expected sha256 {expected}); {how_to_get}")
    actual = sha256_of(path)
    if actual != expected:
        raise BenchError(
            f"corrupt or unexpected data file {path}: sha256 {actual}, expected {expected}; {how_to_get}"
        )


def _how_to_get(domain: str, card: dict, name: str) -> str:
    url = card["files"][name].get("url") or card.get("archive_url")
    return f"run `bench data pull {domain}` (downloads {url}) or pass --data-dir with a checked copy"


def _has_files(root: Path, card: dict) -> bool:
    return all((root / name).is_file() for name in card["files"])


def _checked_root(domain: str, card: dict, root: Path) -> Path:
    for name, meta in card["files"].items():
        check_file(root / name, meta["sha256"], _how_to_get(domain, card, name))
    return root


def _embedded_movie_folder(card: dict) -> Path:
    spec = importlib.util.find_spec(card["embedded"]["package"])
    if spec is None or spec.origin is None:
        raise BenchError("no movie data: recbole is not installed and no --data-dir was given; "
                         "install the project (pip install -e .) or run `bench data pull movie`")
    folder = Path(spec.origin).parent / card["embedded"]["folder"]
    for name, meta in card["embedded"]["files"].items():
        check_file(folder / name, meta["sha256"], "reinstall recbole==1.2.1 or pass --data-dir")
    return folder


def _build(domain: str, card: dict, source: str, root: Path) -> DomainData:
    if domain == "movie":
        if source == "embedded-recbole":
            ratings = movielens.read_atomic_ratings(root / "ml-100k.inter")
            titles = movielens.read_atomic_titles(root / "ml-100k.item")
        else:
            ratings = movielens.read_raw_ratings(root / "ml-100k/u.data")
            titles = movielens.read_raw_titles(root / "ml-100k/u.item")
        splits = movielens.build_splits(ratings, titles)
    else:
        released = tallrec_json.read_file("book", root / "tallrec/book/valid.json", "book-valid")
        pool_size = card["train_pool_size"]
        splits = {
            "train": released[:pool_size],
            "valid": released[pool_size : pool_size + card["valid_size"]],
            "test": tallrec_json.read_file("book", root / "tallrec/book/test.json", "book-test"),
        }
    return DomainData(
        name=domain,
        source=source,
        location=str(root),
        fingerprints={split: fingerprint(samples) for split, samples in splits.items()},
        **splits,
    )


@functools.lru_cache(maxsize=8)
def _load(domain: str, data_dir: Path | None) -> DomainData:
    card = load_card(domain)
    if data_dir is not None:
        if not data_dir.is_dir():
            raise BenchError(f"data folder {data_dir} does not exist; pass --data-dir with an existing folder "
                             f"(or unset BENCH_DATA_DIR) ")
        return _build(domain, card, "data-dir", _checked_root(domain, card, data_dir))
    cached = cache_dir() / "data"
    if _has_files(cached, card):
        return _build(domain, card, "cache", _checked_root(domain, card, cached))
    if domain == "movie":
        return _build(domain, card, "embedded-recbole", _embedded_movie_folder(card))
    name = next(iter(card["files"]))
    raise BenchError(f"no {domain} data: {cached / name} not found; {_how_to_get(domain, card, name)}")


def load_domain(domain: str, data_dir: Path | None = None) -> DomainData:
    """Samples for `domain`; `data_dir` falls back to $BENCH_DATA_DIR. Loaded once per process."""
    load_card(domain)  # validates the name before anything else
    data_dir = data_dir or data_dir_from_env()
    return _load(domain, Path(data_dir).resolve() if data_dir else None)


def pull(domain: str) -> Path:
    """Download a domain's files into the user cache, checking every sha256; returns the cache folder."""
    import pooch
    import requests

    card = load_card(domain)
    target = cache_dir() / "data"
    try:
        if "archive_url" in card:  # the zip's own checksum is not published: its members are checked below
            pooch.retrieve(card["archive_url"], known_hash=None, path=target / "downloads",
                           processor=pooch.Unzip(members=[m["member"] for m in card["files"].values()],
                                                 extract_dir=str(target)), progressbar=True)
        else:
            for name, meta in card["files"].items():
                path = target / name
                pooch.retrieve(meta["url"], known_hash=f"sha256:{meta['sha256']}", fname=path.name,
                               path=path.parent, progressbar=True)
    except requests.RequestException as exc:
        raise BenchError(f"cannot download the {domain} data ({exc.__class__.__name__}: {exc}); check the "
                         "connection, or download the files yourself and pass --data-dir") from exc
    except ValueError as exc:  # pooch: the downloaded file's hash does not match the card
        raise BenchError(f"downloaded {domain} data failed its checksum ({exc}); try again later, or "
                         "download the files yourself and pass --data-dir") from exc
    return _checked_root(domain, card, target)
