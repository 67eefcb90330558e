"""`bench check --update` replaces the references whole or not at all: a crash while writing leaves
the old references intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.run import check
from bench.run.store import ResultStore, record_identity


def _fresh(score: float, n: int = 4) -> dict[tuple, tuple[dict, dict[str, float]]]:
    """What `run_suite` hands `_write_references`: n records of one method on one test set."""
    cells = {}
    for seed in range(n):
        record = {"key": f"cell{seed}", "method": "like-ratio", "config": {}, "train": "movie", "test": "movie",
                  "shots": 16, "seed": seed, "test_size": 3, "status": "ok", "auc": 0.5,
                  "sample_ids": ["u1:i1", "u1:i2", "u2:i3"], "labels": [1, 0, 1], "users": ["u1", "u1", "u2"],
                  "scores": [score, score / 2, score / 3]}
        cells[record_identity(record)] = (record, {})
    return cells


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_crash_while_writing_leaves_the_old_references_intact(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    check._write_references(_fresh(0.9), reference)
    (reference / "README.md").write_text("kept across updates")
    before = _snapshot(reference)
    assert len([p for p in before if p.startswith("records/")]) == 4

    write, written = ResultStore.write, []

    def failing_write(self, record):
        if len(written) == 2:
            raise OSError("disk full")
        written.append(record["key"])
        return write(self, record)

    monkeypatch.setattr(ResultStore, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        check._write_references(_fresh(0.1), reference)
    assert written == ["cell0", "cell1"], "the crash must land midway"
    assert _snapshot(reference) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference"], "a temporary folder was left behind"


def test_an_update_replaces_the_references_and_drops_stale_cells(tmp_path):
    reference = tmp_path / "reference"
    check._write_references(_fresh(0.9, n=4), reference)
    (reference / "notes").mkdir()
    (reference / "notes" / "why.txt").write_text("kept")
    check._write_references(_fresh(0.1, n=2), reference)

    records = sorted(ResultStore(reference).records(), key=lambda r: r["key"])
    assert [(r["key"], r["scores"][0], r["labels"]) for r in records] == [("cell0", 0.1, [1, 0, 1]),
                                                                          ("cell1", 0.1, [1, 0, 1])]
    assert (reference / "notes" / "why.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference"], "a temporary folder was left behind"
