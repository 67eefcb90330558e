"""`bench run` with no grid options runs the default suite, the headline LM cells included."""

from __future__ import annotations

from bench import cli
from bench.run import runner, suites


def _grids(argv: list[str]) -> list[runner.Grid]:
    return cli._grids(cli.build_parser().parse_args(["run", *argv]))


def test_no_grid_options_give_the_default_suite_with_zero_shot_and_a_bounded_tallrec_cell():
    grids = _grids([])
    methods = [m for g in grids for m in g.methods]
    assert "zero-shot" in methods and "tallrec" in methods and "like-ratio" in methods
    lm = next(g for g in grids if "tallrec" in g.methods)
    assert lm.test_size == suites.LM_TEST_SIZE and lm.shots == [16] and lm.seeds == [0]
    assert lm.params["tallrec"]["preset"] == "fast"  # resolved in the suite, not by the machine it runs on
    cells = [c for g in grids for c in runner.plan(g)]
    assert sum(c.method in ("zero-shot", "tallrec") for c in cells) == 2
    assert "like-ratio" in lm.methods  # the LM rows' subset has its own bar


def test_any_grid_option_gives_one_grid_and_the_rest_from_the_first_default_grid():
    (grid,) = _grids(["--method", "like-ratio"])
    assert grid.methods == ["like-ratio"] and grid.shots == suites.DEFAULT[0]["shots"] and grid.test_size is None
    (grid,) = _grids(["--test-size", "50"])
    assert grid.methods == suites.DEFAULT[0]["methods"] and grid.test_size == 50


def test_the_help_says_what_the_default_run_runs_and_how_long_it_takes(capsys):
    import pytest

    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "zero-shot, tallrec at K 16" in text and f"about {suites.DEFAULT_MINUTES} minutes" in text


def test_a_run_ends_with_its_answer_and_the_views_of_its_lm_rows(capsys, tmp_path, data_dir):
    """The table a run prints says what its numbers mean and ends with the bar and what beats it."""
    code = cli.main(["run", "--method", "like-ratio", "random", "--shots", "16", "--seeds", "0", "1",
                     "--store", str(tmp_path / "store"), "--data-dir", str(data_dir), "--no-progress"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and out[-2].startswith("AUC x 100: 50 is chance")
    assert out[-1].startswith("Answer (full test sets): movie: the bar is like-ratio; nothing beats it significantly "
                              "(resolution ")  # the smallest differences this test set can see
    assert out[-1].endswith(" points: smaller differences often go unnoticed).")
