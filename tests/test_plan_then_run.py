"""Resolve, then record, then run: a cell is built where it runs from the config it was planned with,
never again from command-line strings, the environment or that machine's device."""

from __future__ import annotations

from bench.run import provenance, registry, runner


def _grid(method: str, device: str, params: dict | None = None) -> runner.Grid:
    return runner.Grid(methods=[method], shots=[16], seeds=[0], train=["movie"], test=["movie"],
                       params=params or {}, device=device)


def test_a_cell_planned_for_a_cpu_runs_as_planned_on_a_machine_that_looks_like_a_gpu(monkeypatch, data_dir):
    monkeypatch.setenv("BENCH_DATA_DIR", str(data_dir))
    (cell,) = runner.plan(_grid("tallrec", "cpu"))  # planned for CPU tasks: preset auto means cpu
    assert cell.config["preset"] == "cpu" and "precision" not in cell.config
    monkeypatch.setattr(provenance, "default_device", lambda: "cuda")  # where it runs, auto would mean paper
    built = registry.from_config(cell.method, cell.config)
    assert built.preset == "cpu" and built.config() == cell.config


def test_a_gpu_plan_on_a_cpu_login_node_records_the_gpu_preset_and_precision(monkeypatch, data_dir):
    monkeypatch.setenv("BENCH_DATA_DIR", str(data_dir))
    monkeypatch.setattr(provenance, "default_device", lambda: "cpu")  # the login node
    planned = registry.build("tallrec", {}, device="cuda")  # what runner.plan does for GPU tasks
    assert planned.preset == "paper"
    assert registry.from_config("tallrec", planned.config()).config() == planned.config()


def test_icl_reads_the_environment_once_when_planned(monkeypatch, data_dir):
    monkeypatch.setenv("BENCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("OPENAI_MODEL", "planned-model")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    (cell,) = runner.plan(_grid("icl", "cpu"))
    monkeypatch.setenv("OPENAI_MODEL", "another-model")  # the task's environment differs
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:10/v1")
    built = registry.from_config(cell.method, cell.config)
    assert (built.model, built.base_url) == ("planned-model", "http://127.0.0.1:9/v1")


def test_every_method_rebuilds_from_its_recorded_config():
    for name in registry.available():
        if name.startswith("test-"):
            continue  # toy methods registered by other tests
        method = registry.build(name, device="cpu")
        assert registry.from_config(name, method.config()).config() == method.config(), name
