"""The text-embedding cache: several workers adding vectors at once keep each other's entries."""

from __future__ import annotations

import multiprocessing
import zlib

import numpy as np
import pytest

from bench.data.samples import Item
from bench.lm import text_embeddings


def _vector(text: str) -> np.ndarray:
    """A stand-in for the encoder: a fixed unit vector per text."""
    vector = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(text_embeddings.DIMENSION)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _items(prefix: str) -> list[Item]:
    return [Item(f"{prefix}{n}", f"title {prefix}{n}") for n in range(40)]


def _add(prefix: str, barrier) -> None:
    """A worker: encodes its own items; the barrier makes both workers read the (empty) cache and
    encode before either writes, the interleaving in which a plain rewrite loses one worker's entries."""
    def encode(texts, device="cpu"):
        barrier.wait(timeout=60)
        return np.stack([_vector(t) for t in texts])

    text_embeddings.encode = encode
    got = text_embeddings.item_vectors("movie", _items(prefix))
    assert all(np.array_equal(got[i.id], _vector(i.title)) for i in _items(prefix))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="the workers are forked")
def test_two_workers_adding_different_items_keep_both(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    context = multiprocessing.get_context("fork")  # the workers inherit the environment set here
    barrier = context.Barrier(2)
    workers = [context.Process(target=_add, args=(prefix, barrier)) for prefix in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]

    cached = text_embeddings._read_cache(text_embeddings.cache_path("movie"))
    expected = {i.id: i.title for i in _items("a") + _items("b")}
    assert {i: t for i, (t, _) in cached.items()} == expected
    assert all(np.array_equal(v, _vector(t)) for t, v in cached.values())
    assert not list(tmp_path.glob("text-embeddings/.*.npz")), "a temporary file was left behind"


def test_cached_items_are_not_encoded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    encoded: list[str] = []

    def encode(texts, device="cpu"):
        encoded.extend(texts)
        return np.stack([_vector(t) for t in texts])

    monkeypatch.setattr(text_embeddings, "encode", encode)
    text_embeddings.item_vectors("book", _items("a")[:5])
    got = text_embeddings.item_vectors("book", _items("a")[:8])
    assert encoded == [f"title a{n}" for n in range(5)] + [f"title a{n}" for n in range(5, 8)]
    assert all(np.array_equal(got[i.id], _vector(i.title)) for i in _items("a")[:8])
