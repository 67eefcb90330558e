"""Every LM score kind is a view of one record: the stored log P(Yes), log P(No) give the other kind
exactly as a direct run computes it, and the report shows both rows without rerunning anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import aggregate
from bench.run import runner
from bench.run.store import ResultStore


def _zero_shot(kind: str, data_dir: Path, store: ResultStore) -> dict:
    grid = runner.Grid(methods=["zero-shot"], shots=[16], seeds=[0], train=["movie"], test=["movie"],
                       params={"zero-shot": {"model": "tiny-random-llama", "score": kind}}, test_size=60,
                       data_dir=str(data_dir), device="cpu")
    summary = runner.run(grid, store, progress=False)
    (key,) = summary.computed
    return store.load("zero-shot", key)


def test_the_other_score_kind_from_a_stored_record_equals_a_direct_run(data_dir, tmp_path):
    stored = _zero_shot("reference", data_dir, ResultStore(tmp_path / "a"))
    direct = _zero_shot("logodds", data_dir, ResultStore(tmp_path / "b"))
    assert set(stored["sample_values"]) == {"log_p_yes", "log_p_no"}
    assert stored["sample_values"] == direct["sample_values"]  # one forward pass, whatever the kind

    (view,) = [v for v in aggregate.with_views([stored]) if v.get("view_of")]
    assert view["config"]["score"] == "logodds" and view["view_of"] == stored["key"]
    # float32 log-probs round-trip through 9 digits, and a view keeps its scores as a run does: equal
    assert view["scores"] == direct["scores"] and view["auc"] == direct["auc"]
    (back,) = [v for v in aggregate.with_views([direct]) if v.get("view_of")]
    assert back["scores"] == stored["scores"] and back["auc"] == stored["auc"]

    # The report shows both kinds from the one record; a record of the other kind itself wins over its view.
    rows = aggregate.aggregate([stored], with_statistics=False).rows(60)
    assert [r for r in rows if "score=reference" in r] and [r for r in rows if "score=logodds" in r]
    assert len(aggregate.with_views([stored, direct])) == 2


def test_a_tuned_adapter_viewed_under_another_kind_says_what_chose_it():
    from methods.lm import TallRec

    record = {"key": "k", "status": "ok", "method": "tallrec", "config": {"score": "reference", "preset": "fast"},
              "labels": [1, 0, 1], "scores": [0.6, 0.4, 0.5],
              "sample_values": {"log_p_yes": [-0.5, -2.0, -1.0], "log_p_no": [-1.5, -0.3, -1.2]}}
    (view,) = TallRec.views(record)
    assert view["config"] == {"score": "logodds", "preset": "fast", "selected_by": "reference"}
    assert view["scores"] == pytest.approx([1.0, -1.7, 0.2], abs=1e-6)
    assert TallRec.views({**record, "sample_values": {}}) == []  # records from before: no view, no error
    viewed = aggregate.with_views([{**record, "train": "movie", "test": "movie", "shots": 16, "seed": 0}])
    assert len(viewed) == 2 and aggregate.with_views(viewed) == viewed  # a view has no view of its own


def test_a_featured_score_kind_matches_an_untuned_view_but_not_a_tuned_one():
    """An untuned model's view is a direct run of its config, so featuring that config finds it; a tuned
    adapter's view was chosen under the other kind and is featured only by naming `selected_by`."""
    from bench.report.aggregate import TableCell
    from bench.report.summary import parse_feature

    def view_cell(method: str, config: dict) -> TableCell:
        record = {"key": "k", "status": "ok", "method": method, "config": config, "labels": [1, 0, 1],
                  "scores": [0.6, 0.4, 0.5], "train": "movie", "test": "movie", "shots": 16, "seed": 0,
                  "sample_values": {"log_p_yes": [-0.5, -2.0, -1.0], "log_p_no": [-1.5, -0.3, -1.2]}}
        (view,) = [v for v in aggregate.with_views([record]) if v.get("view_of")]
        cell = TableCell("row", method, "movie", "movie", 16, None)
        cell.records.append(view)
        return cell

    untuned = view_cell("zero-shot", {"model": "smollm2-135m-instruct", "score": "reference"})
    assert parse_feature("zero-shot[score=logodds]").matches(untuned)
    tuned = view_cell("tallrec", {"model": "smollm2-135m-instruct", "preset": "cpu", "score": "logodds"})
    assert not parse_feature("tallrec[score=reference]").matches(tuned)
    assert parse_feature("tallrec[score=reference, selected_by=logodds]").matches(tuned)
