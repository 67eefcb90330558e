"""`bench check`: a drifted score fails naming its cell; unchanged references pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import check
from bench.cli import main
from bench.store import ResultStore

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


def _reference_file(reference: Path, method: str) -> Path:
    return next(p for p in sorted((reference / "records" / method).glob("*.json"))
                if json.loads(p.read_text())["test"] == "movie")


def test_unchanged_references_pass_and_a_changed_score_fails_naming_the_cell(small_suite, tmp_path, data_dir, capsys):
    reference = tmp_path / "reference"
    args = ["check", "--suite", str(small_suite), "--reference", str(reference), "--data-dir", str(data_dir)]
    assert main([*args, "--update"]) == 0
    assert main(args) == 0
    assert "3 cells match the references" in capsys.readouterr().out

    path = _reference_file(reference, "like-ratio")
    record = json.loads(path.read_text())
    record["scores"][7] += 0.01
    path.write_text(json.dumps(record))
    sample_id = ResultStore(reference).load("like-ratio", record["key"])["sample_ids"][7]
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
    path = _reference_file(reference, "popularity")
    record = json.loads(path.read_text())
    record["auc"] -= 0.001
    path.write_text(json.dumps(record))
    stale = dict(record, seed=99, key="stale")
    (path.parent / "stale.json").write_text(json.dumps(stale))
    book = next(p for p in (reference / "records" / "popularity").glob("*.json")
                if json.loads(p.read_text())["test"] == "book")
    book.unlink()

    result = check.check(small_suite, reference, data_dir)
    assert not result.ok
    by_cell = {d.cell: d.message for d in result.drifts}
    assert "auc" in by_cell["popularity[prior=2.0] train=movie test=movie K=16 seed=0 test_size=100"]
    assert "no reference" in by_cell["popularity[prior=2.0] train=movie test=book K=16 seed=0 test_size=100"]
    assert "no longer produces" in by_cell["popularity[prior=2.0] train=movie test=movie K=16 seed=99 test_size=100"]


def test_tolerance_lets_small_differences_pass(small_suite, tmp_path, data_dir):
    reference = tmp_path / "reference"
    check.check(small_suite, reference, data_dir, update=True)
    path = _reference_file(reference, "like-ratio")
    record = json.loads(path.read_text())
    record["scores"][0] += 1e-8  # below the suite's score tolerance of 1e-6
    path.write_text(json.dumps(record))
    assert check.check(small_suite, reference, data_dir).ok


def test_the_committed_references_match_the_fixed_suite(data_dir):
    """The CI check itself: the repository's suite against the repository's references."""
    result = check.check(data_dir=data_dir)
    assert result.ok, result.text()
    assert result.cells >= 20


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
