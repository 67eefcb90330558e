"""`bench check`: a drifted score fails naming its cell; unchanged references pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.metrics import auc, auc_reach
from bench.run import check
from bench.run.store import ResultStore

SMALL_SUITE = """
test_size = 100
shots = [16]
seeds = [0]
train = ["movie"]
test = ["movie"]
[tolerance]
auc = 1e-9
scores = 1e-6
[suite]
cells = [
    { method = "like-ratio" },
    { method = "popularity", test = ["movie", "book"] },
]
"""


@pytest.fixture
def small_suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(SMALL_SUITE)
    return path


def _reference_record(reference: Path, method: str) -> dict:
    return next(r for r in ResultStore(reference).records() if r["method"] == method and r["test"] == "movie")


def test_unchanged_references_pass_and_a_changed_score_fails_naming_the_cell(small_suite, tmp_path, data_dir, capsys):
    reference = tmp_path / "reference"
    args = ["check", "--suite", str(small_suite), "--reference", str(reference), "--data-dir", str(data_dir)]
    assert main([*args, "--update"]) == 0
    assert main(args) == 0
    assert "3 cells match the references" in capsys.readouterr().out

    record = _reference_record(reference, "like-ratio")
    record["scores"][7] += 0.01
    ResultStore(reference).write(record)
    sample_id = record["sample_ids"][7]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "like-ratio train=movie test=movie K=16 seed=0 test_size=100" in out
    assert f"sample {sample_id}" in out
    assert "popularity" not in out  # only the drifted cell is named


def test_auc_drift_missing_and_stale_cells_are_reported(small_suite, tmp_path, data_dir):
    reference = tmp_path / "reference"
    check.check(small_suite, reference, data_dir, update=True)
    record = _reference_record(reference, "popularity")
    # Say the reference ranked every sample perfectly: the fresh AUC is then far outside what its scores reach.
    record["scores"], record["auc"] = [float(y) for y in record["labels"]], 1.0
    ResultStore(reference).write(record)
    ResultStore(reference).write(dict(record, seed=99, key="stale"))
    book = next(p for p in (reference / "records" / "popularity").glob("*.json")
                if json.loads(p.read_text())["test"] == "book")
    book.unlink()

    result = check.check(small_suite, reference, data_dir)
    assert not result.ok
    by_cell: dict[str, str] = {}
    for d in result.drifts:
        by_cell[d.cell] = by_cell.get(d.cell, "") + d.message + "; "
    assert "auc " in by_cell["popularity[prior=2.0] train=movie test=movie K=16 seed=0 test_size=100"]
    assert "no reference" in by_cell["popularity[prior=2.0] train=movie test=book K=16 seed=0 test_size=100"]
    assert "no longer produces" in by_cell["popularity[prior=2.0] train=movie test=movie K=16 seed=99 test_size=100"]


def test_tolerance_lets_small_differences_pass(small_suite, tmp_path, data_dir):
    reference = tmp_path / "reference"
    check.check(small_suite, reference, data_dir, update=True)
    record = _reference_record(reference, "like-ratio")
    record["scores"][0] += 1e-8  # below the suite's score tolerance of 1e-6
    ResultStore(reference).write(record)
    assert check.check(small_suite, reference, data_dir).ok


def _near_tie_record(scores: list[float]) -> dict:
    labels = [1, 0, 1, 0, 1, 0, 0, 1]
    return {"key": "k", "status": "ok", "sample_ids": [f"s{i}" for i in range(8)], "labels": labels,
            "scores": scores, "auc": auc(labels, scores)}


# Well separated except one pair: positive s2 (0.5) and negative s3 (0.5 + 2e-10), a near tie.
NEAR_TIE = [0.9, 0.1, 0.5, 0.5 + 2e-10, 0.8, 0.2, 0.3, 0.7]


def test_a_near_tie_that_swaps_on_another_cpu_passes():
    """The failure seen across CPUs: every score within tolerance, one near tie swapped, so the AUC
    moved by exactly half a pair (here 1/(2*4*4)); the check must accept it."""
    ref = _near_tie_record(NEAR_TIE)
    swapped = list(NEAR_TIE)
    swapped[3] = 0.5 - 1e-10  # moved by 3e-10, inside the score tolerance of 1e-9
    new = _near_tie_record(swapped)
    assert new["auc"] - ref["auc"] == pytest.approx(1 / (4 * 4))
    assert check.compare_records(new, ref, {"auc": 1e-12, "scores": 1e-9}) == []
    low, high = auc_reach(ref["labels"], ref["scores"], 1e-9)
    assert (low, high) == (pytest.approx(ref["auc"]), pytest.approx(ref["auc"] + 1 / 16))


def test_an_auc_drift_beyond_what_the_score_tolerance_allows_fails():
    ref = _near_tie_record(NEAR_TIE)
    drifted = dict(ref, auc=ref["auc"] - 1 / 16)  # one pair lost where no near tie could lose it
    problems = check.compare_records(drifted, ref, {"auc": 1e-12, "scores": 1e-9})
    assert len(problems) == 1 and problems[0].startswith("auc ")
    assert "reach [" in problems[0]
    # The same AUC is accepted once the score tolerance is loose enough to allow it (the closest other pairs are 0.2 apart).
    assert check.compare_records(drifted, ref, {"auc": 1e-12, "scores": 0.11}) == []


def test_the_committed_references_match_the_fixed_suite(data_dir):
    """The CI check itself: the repository's suite against the repository's references."""
    result = check.check(data_dir=data_dir)
    assert result.ok, result.text()
    assert result.cells >= 20


def test_the_committed_references_hold_when_torch_takes_other_cpu_kernels(data_dir):
    """Another CPU, emulated: ATEN_CPU_CAPABILITY=default makes torch skip its AVX2/AVX-512 kernels, so
    float sums round differently (here one near tie of the tiny model swaps, as it did between an AVX2
    and an AVX-512 machine). The check must still pass."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    done = subprocess.run([sys.executable, "-m", "bench.cli", "check", "--data-dir", str(data_dir)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cells match the references" in done.stdout


def test_missing_references_are_named_before_the_suite_runs(small_suite, tmp_path, data_dir, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the suite ran although there is nothing to compare it with")

    monkeypatch.setattr(check, "run_suite", never)
    with pytest.raises(check.BenchError, match="no references in .*nowhere; pass the folder that holds them with "
                                               "--reference"):
        check.check(small_suite, tmp_path / "nowhere", data_dir)


def test_suite_lines_need_a_method(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[suite]\ncells = [{ shots = [16] }]\n')
    with pytest.raises(check.BenchError, match="no method"):
        check.load_suite(bad)


def _benchmark_json(medians: dict[str, float]) -> dict:
    return {"benchmarks": [{"fullname": name, "stats": {"median": m}} for name, m in medians.items()]}


def test_perf_compare_judges_ratios_to_the_calibration(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare", Path(__file__).parents[1] / "benchmarks" / "compare.py")
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    calib = compare.CALIBRATION
    base = tmp_path / "baseline.json"
    run = tmp_path / "run.json"
    run.write_text(json.dumps(_benchmark_json({calib: 1.0, "a": 2.0, "b": 3.0})))
    assert compare.main([str(run), str(base), "--update"]) == 0
    # A machine twice as slow for everything: the ratios stay at 1, nothing fails.
    run.write_text(json.dumps(_benchmark_json({calib: 2.0, "a": 4.0, "b": 6.0, "new": 1.0})))
    assert compare.main([str(run), str(base)]) == 0
    # Only `a` got slower (x2 relative to the calibration): it fails, by name.
    run.write_text(json.dumps(_benchmark_json({calib: 1.0, "a": 4.0, "b": 3.0})))
    lines, failed = compare.compare(compare.medians(json.loads(run.read_text())),
                                    compare.medians(json.loads(base.read_text())), 1.5)
    assert failed
    assert any(line.startswith("a ") and "SLOWER" in line for line in lines)
    assert not any(line.startswith("b ") and "SLOWER" in line for line in lines)
