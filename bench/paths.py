"""Where the tool keeps things on the user's machine (one place, overridable by environment)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """Downloads, converted models and embedding caches: $BENCH_CACHE_DIR or the user cache."""
    return Path(os.environ.get("BENCH_CACHE_DIR") or platformdirs.user_cache_dir("tallrec-bench"))


def data_dir_from_env() -> Path | None:
    """$BENCH_DATA_DIR, the environment form of `--data-dir`."""
    value = os.environ.get("BENCH_DATA_DIR")
    return Path(value) if value else None


def default_store() -> Path:
    """The results store: $BENCH_RESULTS or ./results."""
    return Path(os.environ.get("BENCH_RESULTS") or "results")
