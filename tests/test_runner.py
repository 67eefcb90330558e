"""The runner: keys follow what determines a result; cross-domain cells a method cannot score are
recorded as not applicable, never silently scored."""

from __future__ import annotations

import time

import pytest

from bench.run import memory, provenance, runner
from bench.run.registry import Method, register
from bench.run.store import ResultStore


@register("test-constant")
class ConstantWithThreads(Method):
    """A constant score; `threads` changes nothing but speed."""

    operational_parameters = frozenset({"threads"})

    def __init__(self, *, value: float = 0.5, threads: int = 1) -> None:
        self.value = value
        self.threads = threads

    def score(self, samples):
        return [self.value + 1e-3 * len(s.history) for s in samples]


@register("test-memory-hog")
class MemoryHog(Method):
    """Holds `mb` MiB during its fit only, long enough for a 10 ms sampler to see it."""

    def __init__(self, *, mb: int = 500) -> None:
        self.mb = mb

    def fit(self, train, valid, context):
        held = b"x" * (self.mb << 20)  # written, so resident
        time.sleep(1.0)  # long enough for a 10 ms sampler to see it on a busy machine
        del held

    def score(self, samples):
        return [0.5] * len(samples)


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


def test_a_fit_is_named_apart_from_where_it_is_tested(data_dir):
    """Artifacts (tallrec's adapter) live under the fit's key, so another test domain or subset reuses them."""
    g = grid(data_dir)
    g.test = ["movie", "book"]
    subset_movie, subset_book = runner.plan(g)
    g.test_size = None
    [full_movie, _] = runner.plan(g)
    g.shots = [64]
    [more_shots, _] = runner.plan(g)
    assert len({subset_movie.key, subset_book.key, full_movie.key}) == 3
    assert subset_movie.fit_key == subset_book.fit_key == full_movie.fit_key != more_shots.fit_key


def test_a_value_given_twice_is_one_cell(data_dir):
    g = grid(data_dir)
    g.methods, g.shots, g.seeds, g.test = ["test-constant"] * 2, [16, 64, 16], [0, 0], ["movie", "book", "movie"]
    cells = runner.plan(g)
    assert [(c.shots, c.test) for c in cells] == [(16, "movie"), (16, "book"), (64, "movie"), (64, "book")]


def test_a_subset_as_large_as_the_test_set_is_the_full_test_set(data_dir):
    g = grid(data_dir)
    g.test_size = 10**6
    [whole] = runner.plan(g)
    g.test_size = None
    [full] = runner.plan(g)
    assert whole.test_size is None and whole.key == full.key


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


@pytest.mark.parametrize("name", ["gru4rec", "sasrec-text", "deepfm", "din"])
def test_a_recbole_model_trained_on_a_gpu_is_not_the_cpu_cell(data_dir, name):
    def on(device: str) -> runner.PlannedCell:
        return runner.plan(runner.Grid(methods=[name], shots=[16], seeds=[0], train=["movie"], test=["movie"],
                                       data_dir=str(data_dir), device=device))[0]

    cpu, gpu = on("cpu"), on("cuda:1")  # planning only: no GPU needed
    assert "precision" not in cpu.config and gpu.config["precision"] == "float32-cuda"
    assert gpu.key != cpu.key and gpu.fit_key != cpu.fit_key


def test_an_lm_cell_in_bfloat16_is_not_the_float32_cell(data_dir):
    """The same LM cell on a GPU (bf16) and on a CPU (float32) gives different scores: never reuse one
    for the other. Methods whose numbers do not depend on the device keep one key."""
    def lm_grid(device: str) -> runner.Grid:
        return runner.Grid(methods=["zero-shot", "test-constant"], shots=[16], seeds=[0], train=["movie"],
                           test=["movie"], test_size=50, data_dir=str(data_dir), device=device)

    lm_cpu, constant_cpu = runner.plan(lm_grid("cpu"))
    lm_gpu, constant_gpu = runner.plan(lm_grid("cuda"))  # planning only: no GPU needed
    assert "precision" not in lm_cpu.config  # float32: keys as they were before precision was recorded
    assert lm_gpu.config["precision"] == "bfloat16"
    assert lm_gpu.key != lm_cpu.key and lm_gpu.fit_key != lm_cpu.fit_key
    assert constant_gpu.key == constant_cpu.key and "precision" not in constant_gpu.config


def test_asking_for_cuda_without_a_gpu_is_a_clear_error(data_dir, tmp_path, monkeypatch):
    import pytest

    from bench.errors import BenchError
    from bench.run import provenance

    monkeypatch.setattr(provenance, "default_device", lambda: "cpu")  # a machine with no GPU
    g = grid(data_dir)
    g.device = "cuda"
    with pytest.raises(BenchError, match="--device cuda .* no CUDA GPU; use --device cpu or auto"):
        runner.run(g, ResultStore(tmp_path), progress=False)
    assert not list(ResultStore(tmp_path).records())


@pytest.mark.parametrize("how", ["VmHWM", "VmRSS sampled", "ru_maxrss"])
def test_each_cell_records_its_own_peak_memory(data_dir, store_dir, monkeypatch, how):
    """A cell after one that held 500 MiB records its own, lower peak, not the process's (ru_maxrss)."""
    if how != "VmHWM":
        monkeypatch.setattr(memory, "_reset_peak_rss", lambda: False)
    if how == "ru_maxrss":
        monkeypatch.setattr(memory, "_status_mb", lambda field: None)
    store = ResultStore(store_dir)
    g = runner.Grid(methods=["test-memory-hog", "test-constant"], shots=[16], seeds=[0], train=["movie"],
                    test=["movie"], test_size=50, data_dir=str(data_dir))
    runner.run(g, store, progress=False)
    by_method = {r["method"]: r for r in store.records()}
    hog, light = by_method["test-memory-hog"], by_method["test-constant"]
    assert hog["peak_rss_source"] == light["peak_rss_source"] == how
    if how == "ru_maxrss":  # the light cell cannot raise the process's peak: unknown, never inherited
        assert light["peak_rss_mb"] is None
        assert hog["peak_rss_mb"] is None or hog["peak_rss_mb"] >= 500
    else:
        assert hog["peak_rss_mb"] >= 500
        assert light["peak_rss_mb"] < hog["peak_rss_mb"] - 300
    assert ("peak_cuda_mb" in light) == (memory._cuda_in_use() is not None)


def test_each_cell_records_its_own_cuda_peak(data_dir, store_dir, monkeypatch):
    """Where torch has CUDA in use, the device peak is reset before each stretch (fit, scoring)."""
    import sys
    import types

    class FakeCuda:
        peak, resets = 0, 0

        def is_initialized(self):
            return True

        def reset_peak_memory_stats(self):
            self.peak, self.resets = 0, self.resets + 1

        def max_memory_allocated(self):
            return self.peak

    cuda = FakeCuda()

    def fit(self, *args):
        cuda.peak = 2048 << 20

    def score(self, samples):
        cuda.peak = 1 << 20
        return [0.5] * len(samples)

    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    monkeypatch.setattr(MemoryHog, "fit", fit)
    monkeypatch.setattr(MemoryHog, "score", score)
    store = ResultStore(store_dir)
    g = runner.Grid(methods=["test-memory-hog", "test-constant"], shots=[16], seeds=[0], train=["movie"],
                    test=["movie"], test_size=50, data_dir=str(data_dir), device="cpu")
    runner.run(g, store, progress=False)
    by_method = {r["method"]: r for r in store.records()}
    assert by_method["test-memory-hog"]["peak_cuda_mb"] == 2048  # the fit's peak counts in its cell
    assert by_method["test-constant"]["peak_cuda_mb"] == 0
    assert cuda.resets == 4  # before each fit and each scoring


def test_records_name_the_commit_and_what_a_dirty_tree_changed(data_dir, store_dir, monkeypatch):
    state = {"git_commit": "abc123+dirty", "git_diff_sha256": "0123456789abcdef"}
    monkeypatch.setattr(provenance, "git_state", lambda: state)
    store = ResultStore(store_dir)
    runner.run(grid(data_dir), store, progress=False)
    [record] = store.records()
    assert {k: record[k] for k in state} == state
