"""`bench run --launcher slurm` against a real single-node Slurm started on this machine.

The session fixture runs scripts/slurm-single-node.sh (Debian's slurm-wlm, munge, slurmdbd; needs
root and apt the first time). If Slurm cannot be installed or started, the tests FAIL: a launcher
that was never run against Slurm is not tested. Every wait is bounded; jobs left behind are
cancelled and a cluster the fixture started is stopped again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.run.cell_status import cell_states
from bench.run.launchers import pack_tasks, slurm_options
from bench.run.runner import PlannedCell
from bench.run.store import ResultStore

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm-single-node.sh"
# Provenance that differs between two runs of the same cell; everything else must be equal.
VOLATILE = {"created", "fit_seconds", "score_seconds", "wall_seconds", "peak_rss_mb", "peak_rss_source", "peak_cuda_mb",
            "git_diff_sha256"}
BASELINES = ["random", "like-ratio", "popularity"]
GRID = ["--shots", "16", "--seeds", "0", "1", "--train", "movie", "--test", "movie", "--test-size", "200"]
RUN_TIMEOUT_S = 420

pytestmark = pytest.mark.integration


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    probe = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    return probe.returncode == 0 and any(s in probe.stdout for s in ("idle", "mixed", "allocated"))


@pytest.fixture(scope="session")
def slurm_cluster():
    was_up = _cluster_up()
    started = time.perf_counter()
    try:
        done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=420)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{SCRIPT.name} did not finish within 420 s:\n{exc.stderr}")
    if done.returncode != 0 or not _cluster_up():
        pytest.fail(f"could not install/start Slurm with {SCRIPT} (rc {done.returncode}); it needs root and "
                    f"apt:\n{done.stdout}\n{done.stderr}")
    print(f"\nslurm up in {time.perf_counter() - started:.1f} s")
    yield
    if not was_up:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=120)


@pytest.fixture
def cancel_jobs():
    """Collects store folders; cancels whatever their submissions left queued or running."""
    stores: list[Path] = []
    yield stores
    for store in stores:
        for manifest in (store / "slurm").glob("*.json"):
            subprocess.run(["scancel", json.loads(manifest.read_text())["job_id"]], capture_output=True,
                           timeout=30)


def _bench(*args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, f"bench {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _records(store: Path) -> dict[str, dict]:
    return {r["key"]: {k: v for k, v in r.items() if k not in VOLATILE} for r in ResultStore(store).records()}


def _manifests(store: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in (store / "slurm").glob("*.json")),
                  key=lambda m: int(m["job_id"]))


def _wait_until_gone(job_id: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        queued = subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True, timeout=20)
        if not queued.stdout.strip():
            return
        time.sleep(1)
    pytest.fail(f"job {job_id} still queued after {timeout_s} s")


def test_slurm_records_equal_local_records(slurm_cluster, data_dir, tmp_path, cancel_jobs):
    methods = [*BASELINES, "gru4rec"]  # training-free baselines and one RecBole baseline
    grid = ["--method", *methods, *GRID, "--data-dir", str(data_dir), "--no-progress"]
    grid += [  # a short, single-threaded GRU4Rec fit
        "--param", "gru4rec.epochs=3", "--param", "gru4rec.threads=1"]
    local_store, slurm_store = tmp_path / "local", tmp_path / "slurm"
    cancel_jobs.append(slurm_store)
    local = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", *grid, "--store", str(local_store)],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:  # the local run shares the CPUs while the Slurm run waits for its array
        slurm = _bench("run", *grid, "--store", str(slurm_store), "--launcher", "slurm",
                       "--array-parallelism", "2")
        out, err = local.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        local.kill()
    assert local.returncode == 0, f"local run failed:\n{out}\n{err}"
    assert "Slurm job array" in slurm.stdout

    local_records, slurm_records = _records(local_store), _records(slurm_store)
    assert len(local_records) == len(methods) * 2
    assert slurm_records.keys() == local_records.keys()
    for key, record in local_records.items():
        assert record["status"] == "ok"
        assert slurm_records[key]["auc"] == record["auc"], (record["method"], key)
        assert slurm_records[key]["scores"] == record["scores"], (record["method"], key)
        assert slurm_records[key] == record, (record["method"], key)
    states = cell_states(ResultStore(slurm_store))
    assert {s.state for s in states} == {"done"} and len(states) == len(local_records)


def test_cancelled_task_leaves_no_cell_and_rerun_submits_only_missing(slurm_cluster, data_dir, tmp_path,
                                                                      cancel_jobs):
    store = tmp_path / "store"
    cancel_jobs.append(store)
    grid = ["--method", *BASELINES, *GRID, "--data-dir", str(data_dir), "--no-progress",
            "--store", str(store), "--launcher", "slurm"]
    _bench("run", *grid, "--array-parallelism", "1", "--no-wait")
    (first,) = _manifests(store)
    job_id = first["job_id"]
    assert len(first["tasks"]) == 3  # one task per method: each packs its two seeds (one base model)
    # Midway: task 0 runs (the array runs one task at a time); cancel it as soon as it runs, and the
    # last task while it still waits.
    subprocess.run(["scancel", f"{job_id}_2"], check=True, timeout=30)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", f"{job_id}_0", "-o", "%T"], capture_output=True,
                               text=True, timeout=20).stdout.strip()
        if state != "PENDING":
            break
        time.sleep(0.2)
    subprocess.run(["scancel", f"{job_id}_0"], timeout=30)
    _wait_until_gone(job_id)

    planned = {c["key"] for c in first["cells"]}
    stored = {r["key"] for r in ResultStore(store).records()}  # every record parses: none is partial
    missing = planned - stored
    assert not list(store.glob("records/*/.*.tmp")), "a cancelled task left a temporary file"
    cancelled_last = {c["key"] for c in first["tasks"][2]["cells"]}
    assert cancelled_last <= missing
    states = {s.key: s for s in cell_states(ResultStore(store))}
    for key in missing:
        assert states[key].state == "failed", states[key]
        assert states[key].log and Path(states[key].log).parent.is_dir()
    status = _bench("status", "--store", str(store))
    assert "failed" in status.stdout and str(store / "slurm" / "logs") in status.stdout

    rerun = _bench("run", *grid, "--array-parallelism", "2")
    second = _manifests(store)[-1]
    assert second["job_id"] != job_id
    resubmitted = {c["key"] for t in second["tasks"] for c in t["cells"]}
    assert resubmitted == missing
    assert f"submitted {len(missing)} cells" in rerun.stdout
    assert {r["key"] for r in ResultStore(store).records()} == planned
    assert {s.state for s in cell_states(ResultStore(store))} == {"done"}


def _cell(method: str, seed: int, config: dict | None = None) -> PlannedCell:
    return PlannedCell(method, config or {}, "movie", "movie", 16, seed, None, f"{method}-{seed}")


def test_tasks_pack_groups_by_base_model_only_beyond_parallelism():
    groups = [[_cell(m, s)] for m in ("a", "b") for s in range(3)]
    assert [len(t.groups) for t in pack_tasks(groups, parallelism=6)] == [1] * 6
    packed = pack_tasks(groups, parallelism=2)
    assert [[c.method for c in t.cells] for t in packed] == [["a"] * 3, ["b"] * 3]
    other_config = [[_cell("a", 0, {"model": "x"})], [_cell("a", 1, {"model": "y"})]]
    assert len(pack_tasks(other_config, parallelism=1)) == 2  # different base models never share a task


def test_slurm_defaults_file_is_overridden_by_options(tmp_path):
    config = tmp_path / "slurm.toml"
    config.write_text('[slurm]\npartition = "gpu"\ntime_limit = 240\nadditional = {account = "lab"}\n')
    options = slurm_options(config, partition="debug", time_limit=None)
    assert (options.partition, options.time_limit, options.additional) == ("debug", 240, {"account": "lab"})
    config.write_text('[slurm]\npartiton = "gpu"\n')
    from bench.errors import BenchError
    with pytest.raises(BenchError, match="partiton"):
        slurm_options(config)


@pytest.mark.parametrize(("sacct", "squeue", "expected"), [
    (None, "", "ENDED"),           # accounting off, the task has left the queue (OOM-killed, cancelled)
    ("", "", "ENDED"),             # accounting has no record of it, the queue neither
    (None, "7_0|RUNNING\n", "RUNNING"),
    (None, None, "UNKNOWN"),       # Slurm cannot be asked at all
])
def test_a_task_the_queue_no_longer_lists_has_ended_even_without_accounting(monkeypatch, sacct, squeue, expected):
    from bench.run import cell_status

    answers = {"sacct": sacct, "squeue": squeue}
    monkeypatch.setattr(cell_status, "_ask", lambda command: answers[command[0]])
    assert cell_status.slurm_states(["7_0"]) == {"7_0": expected}


def test_following_stops_waiting_for_a_task_slurm_never_answers_about(monkeypatch, tmp_path, capsys):
    from types import SimpleNamespace

    from bench.run import cell_status, launchers

    monkeypatch.setattr(cell_status, "slurm_states", lambda ids: dict.fromkeys(ids, "UNKNOWN"))
    monkeypatch.setattr(launchers, "UNKNOWN_GIVE_UP_S", 0)
    job = SimpleNamespace(job_id="7_0", paths=SimpleNamespace(result_pickle=tmp_path / "never-written.pkl"))
    task = SimpleNamespace(cells=[_cell("random", 0)])
    launchers._follow([job], [task], ResultStore(tmp_path / "store"), slurm_options(poll_seconds=0.01), False)
    assert "has not answered about task(s) 7_0" in capsys.readouterr().err


def test_cuda_tasks_without_gpus_are_refused_before_submitting(data_dir, tmp_path):
    from bench.errors import BenchError
    from bench.run.launchers import run_slurm
    from bench.run.runner import Grid

    grid = Grid(methods=["random"], shots=[16], seeds=[0], train=["movie"], test=["movie"], data_dir=str(data_dir),
                device="cuda")
    with pytest.raises(BenchError, match="needs GPUs in each task: add --gpus-per-task 1"):
        run_slurm(grid, ResultStore(tmp_path / "store"), slurm_options())
    assert not (tmp_path / "store" / "slurm").exists()
