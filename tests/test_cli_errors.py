"""Bad input gives one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import shutil

import pytest

from bench.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err.strip()
    return code, err


def test_unknown_method(capsys, data_dir, store_dir):
    code, err = run_cli(capsys, "run", "--method", "gpt-7", "--store", str(store_dir), "--data-dir", str(data_dir))
    assert code == 2 and err.count("\n") == 0
    assert "unknown method 'gpt-7'" in err and "bench list" in err


def test_bad_domain(capsys, data_dir, store_dir):
    code, err = run_cli(capsys, "run", "--method", "like-ratio", "--train", "music", "--store", str(store_dir),
                        "--data-dir", str(data_dir))
    assert code == 2 and "unknown train domain 'music'" in err and "movie, book" in err and "both" in err
    assert "--card" in err
    code, err = run_cli(capsys, "run", "--method", "like-ratio", "--test", "music", "--store", str(store_dir),
                        "--data-dir", str(data_dir))
    assert code == 2 and "unknown domain 'music'" in err


def test_k_too_large(capsys, data_dir, store_dir):
    code, err = run_cli(capsys, "run", "--method", "like-ratio", "--shots", "9000", "--store", str(store_dir),
                        "--data-dir", str(data_dir))
    assert code == 2 and err.count("\n") == 0
    assert "K=9000 is larger than the movie train pool (8000 samples)" in err


@pytest.mark.parametrize("command", ["report", "status"])
def test_a_store_that_is_not_there_is_named(capsys, tmp_path, command):
    missing = tmp_path / "reslts"
    code, err = run_cli(capsys, command, "--store", str(missing), *(["--out", str(tmp_path / "out")]
                                                                     if command == "report" else []))
    assert code == 2 and err.count("\n") == 0
    assert f"no results store at {missing}" in err and "--store" in err
    assert command == "status" or not (tmp_path / "out").exists()  # no report written from an empty read


def test_missing_data_dir(capsys, tmp_path, store_dir):
    code, err = run_cli(capsys, "run", "--method", "like-ratio", "--store", str(store_dir),
                        "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "data folder" in err and "does not exist" in err


def test_corrupted_file(capsys, data_dir, tmp_path, store_dir):
    copy = tmp_path / "data"
    for name in ("valid.json", "test.json"):
        (copy / "tallrec" / "book").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / "tallrec" / "book" / name, copy / "tallrec" / "book" / name)
    path = copy / "tallrec" / "book" / "test.json"
    path.write_text(path.read_text()[:-100])
    code, err = run_cli(capsys, "run", "--method", "like-ratio", "--train", "book", "--test", "book", "--store", str(store_dir),
                        "--data-dir", str(copy))
    assert code == 2 and err.count("\n") == 0
    assert "corrupt or unexpected data file" in err and "test.json" in err and "28ab5fe8b28f" in err


def test_bad_param_syntax(capsys, store_dir):
    code, err = run_cli(capsys, "run", "--method", "popularity", "--param", "prior=3", "--store", str(store_dir))
    assert code == 2 and "METHOD.KEY=VALUE" in err


@pytest.mark.parametrize("argv, says", [
    (["--method", "popularity", "--param", "popularty.prior=5"], "--param names 'popularty', not a method of this run"),
    (["--method", "popularity", "--param", "mf.dim=32"], "--param names 'mf', not a method of this run (popularity)"),
    (["--method", "like-ratio", "--seeds", "-1"], "seeds must be 0 or more, got -1"),
    (["--method", "like-ratio", "--test-size", "0"], "--test-size must be 1 or more, got 0"),
    (["--test-size", "-5"], "--test-size must be 1 or more, got -5"),
])
def test_grid_mistakes_are_refused_before_anything_runs(capsys, data_dir, store_dir, argv, says):
    code, err = run_cli(capsys, "run", *argv, "--store", str(store_dir), "--data-dir", str(data_dir))
    assert code == 2 and err.count("\n") == 0 and says in err
    assert not list(store_dir.rglob("*.json"))  # nothing ran


@pytest.mark.parametrize("argv, expected", [(["run", "--help"], "Interrupted runs resume"),
                                            (["--help"], "scored by AUC")])
def test_help_explains(argv, expected, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    assert expected in " ".join(capsys.readouterr().out.split())
