"""Shared fixtures. Real data comes from $BENCH_DATA_DIR: the same option a user sets for their own
data folder (this project's CI points it at ../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach a model hub


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get("BENCH_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.fail("set BENCH_DATA_DIR to a folder holding ml-100k/ and tallrec/ (see datasets/*.toml; "
                    "`bench data pull movie` and `bench data pull book` fill the user cache with them)")
    return Path(value).resolve()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"
