"""The runner: keys follow what determines a result; cross-domain cells a method cannot score are
recorded as not applicable, never silently scored."""

from __future__ import annotations

from bench import runner
from bench.registry import Method, register
from bench.store import ResultStore


@register("test-constant")
class ConstantWithThreads(Method):
    """A constant score; `threads` changes nothing but speed."""

    operational_parameters = frozenset({"threads"})

    def __init__(self, *, value: float = 0.5, threads: int = 1) -> None:
        self.value = value
        self.threads = threads

    def score(self, samples):
        return [self.value + 1e-3 * len(s.history) for s in samples]


def grid(data_dir, **params) -> runner.Grid:
    return runner.Grid(methods=["test-constant"], shots=[16], seeds=[0], train=["movie"], test=["movie"],
                       params={"test-constant": params}, test_size=50, data_dir=str(data_dir))


def test_operational_parameters_do_not_change_the_key(data_dir):
    [base] = runner.plan(grid(data_dir))
    [more_threads] = runner.plan(grid(data_dir, threads="2"))
    [other_value] = runner.plan(grid(data_dir, value="0.7"))
    assert base.key == more_threads.key
    assert base.key != other_value.key
    assert more_threads.config["threads"] == 2  # still recorded


def test_id_methods_are_not_applicable_across_domains(data_dir, store_dir):
    store = ResultStore(store_dir)
    g = runner.Grid(methods=["popularity", "like-ratio"], shots=[16], seeds=[0], train=["movie"],
                    test=["movie", "book"], test_size=100, data_dir=str(data_dir))
    summary = runner.run(g, store, progress=False)
    assert len(summary.computed) == 3 and len(summary.not_applicable) == 1
    by_cell = {(r["method"], r["test"]): r for r in store.records()}
    na = by_cell[("popularity", "book")]
    assert na["status"] == "not-applicable" and na["auc"] is None and "scores" not in na
    assert by_cell[("like-ratio", "book")]["status"] == "ok"
    assert by_cell[("popularity", "movie")]["n_test"] == 100


def test_records_share_test_set_files_and_read_back_whole(data_dir, store_dir):
    store = ResultStore(store_dir)
    g = runner.Grid(methods=["like-ratio", "random"], shots=[16], seeds=[0, 1], train=["movie"],
                    test=["movie", "book"], test_size=60, data_dir=str(data_dir))
    runner.run(g, store, progress=False)
    assert len(list((store_dir / "testsets").glob("*.json"))) == 2  # one per test set, not per record
    records = list(store.records())
    assert len(records) == 8
    for record in records:
        assert len(record["sample_ids"]) == len(record["labels"]) == len(record["scores"]) == 60
        assert record == store.load(record["method"], record["key"])
