"""Where the cells of a grid run: in this process (`local`) or as a Slurm job array (`slurm`).

The Slurm launcher does not schedule anything itself: it packs the missing cells into tasks,
submits them as one job array through `submitit` and follows the array until it ends. Every task
writes its own cells into the shared results store (atomically, so tasks never contend and a
cancelled task leaves no partial cell); a rerun therefore submits only the cells still missing.
A manifest per submission (<store>/slurm/<job id>.json) maps each cell to its task and log files;
`bench status` reads it (bench/run/cell_status.py).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.errors import BenchError
from bench.files import write_json_atomically
from bench.run import runner
from bench.run.runner import Grid, PlannedCell, RunSummary
from bench.run.store import ResultStore

LAUNCHERS = ("local", "slurm")
#: How long the Slurm launcher keeps waiting for a task neither sacct nor squeue answers about.
UNKNOWN_GIVE_UP_S = 600


@dataclass
class SlurmOptions:
    """What a task asks Slurm for. Unset fields come from the defaults file, then these defaults."""

    partition: str | None = None          # None: the cluster's default partition
    gpus_per_task: int = 0
    cpus_per_task: int = 1
    mem_gb: float | None = None           # None: the partition's default memory per CPU
    time_limit: int = 60                  # minutes per task
    array_parallelism: int = 16           # tasks of the array that may run at once
    logs: str | None = None               # default: <store>/slurm/logs
    wait: bool = True                     # follow the array until it ends
    poll_seconds: float = 5.0
    additional: dict[str, Any] = field(default_factory=dict)  # any other sbatch option, e.g. {account = "x"}


def slurm_options(config_file: Path | None = None, **overrides: Any) -> SlurmOptions:
    """Options from a TOML file's [slurm] table (optional), overridden by those given (None = unset)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            table = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise BenchError(f"cannot read Slurm defaults {config_file}: {exc}; give a TOML file with a "
                             "[slurm] table (e.g. partition = \"gpu\")") from exc
        values = dict(table.get("slurm", table))
        known = {f.name for f in fields(SlurmOptions)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise BenchError(f"unknown keys {unknown} in {config_file}; known: {sorted(known)}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return SlurmOptions(**values)


@dataclass
class Task:
    """One array task: fit groups (cells sharing one fitted model) that run one after another."""

    groups: list[list[PlannedCell]]

    @property
    def cells(self) -> list[PlannedCell]:
        return [cell for group in self.groups for cell in group]


def run_local(grid: Grid, store: ResultStore, progress: bool = True) -> RunSummary:
    """Every missing cell, one after another, in this process (the default launcher)."""
    return runner.run(grid, store, progress=progress)


def _model_key(group: list[PlannedCell]) -> tuple:
    """Cells with the same method and config load the same base model."""
    return (group[0].method, json.dumps(group[0].config, sort_keys=True, default=str))


def pack_tasks(groups: list[list[PlannedCell]], parallelism: int) -> list[Task]:
    """One fit group per task while that keeps every slot busy; beyond that, pack groups of the same
    base model into one task, so a model is loaded once per task instead of once per group."""
    per_task = max(1, math.ceil(len(groups) / max(1, parallelism)))
    by_model: dict[tuple, list[list[PlannedCell]]] = {}
    for group in groups:
        by_model.setdefault(_model_key(group), []).append(group)
    return [Task(same[i:i + per_task]) for same in by_model.values() for i in range(0, len(same), per_task)]


def run_task(task: Task, grid: Grid, store_root: str) -> RunSummary:
    """What one Slurm array task executes (pickled by submitit, run by the same Python)."""
    store = ResultStore(Path(store_root))
    summary = RunSummary()
    for group in task.groups:
        runner.run_group(group, grid, store, summary)
    return summary


@dataclass
class SlurmRun:
    """The outcome of a Slurm submission: what was computed, and which cells failed (with logs)."""

    summary: RunSummary
    job_id: str | None = None
    logs: Path | None = None
    failed: dict[str, str] = field(default_factory=dict)      # cell key -> log path
    still_running: list[str] = field(default_factory=list)    # cells left to an earlier, live job
    submitted: list[str] = field(default_factory=list)        # cell keys this call submitted


def _executor(options: SlurmOptions, logs: Path):
    import submitit

    if shutil.which("sbatch") is None:
        raise BenchError("sbatch not found: --launcher slurm needs a Slurm client on this machine "
                         "(or use --launcher local; scripts/slurm-single-node.sh starts a test cluster)")
    executor = submitit.AutoExecutor(folder=logs / "%j", cluster="slurm")
    params: dict[str, Any] = {
        "name": "bench", "timeout_min": options.time_limit, "cpus_per_task": options.cpus_per_task,
        "slurm_array_parallelism": options.array_parallelism,
        # methods read thread counts from the environment: match what Slurm granted
        "slurm_setup": ["export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
                        "export MKL_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}"],
    }
    if options.partition:
        params["slurm_partition"] = options.partition
    if options.gpus_per_task:
        params["slurm_gpus_per_task"] = options.gpus_per_task
    if options.mem_gb is not None:
        params["mem_gb"] = options.mem_gb
    if options.additional:
        params["slurm_additional_parameters"] = dict(options.additional)
    executor.update_parameters(**params)
    return executor


def _absolute(grid: Grid) -> Grid:
    """Tasks may start in another folder (or on another node): make every path absolute."""
    return Grid(**{**asdict(grid), "data_dir": str(Path(grid.data_dir).resolve()) if grid.data_dir else None,
                   "cards": [str(Path(c).resolve()) for c in grid.cards]})


def manifest_dir(store: ResultStore) -> Path:
    return store.root / "slurm"


def _write_manifest(store: ResultStore, job_id: str, tasks: list[Task], jobs: list, cells: list[PlannedCell]) -> None:
    entries = []
    for index, (task, job) in enumerate(zip(tasks, jobs, strict=True)):
        entries.append({
            "task_id": job.job_id, "array_index": index, "stdout": str(job.paths.stdout),
            "stderr": str(job.paths.stderr),
            "cells": [{"key": c.key, "method": c.method} for c in task.cells],
        })
    write_json_atomically(manifest_dir(store) / f"{job_id}.json", {
        "job_id": job_id, "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cells": [{"key": c.key, "method": c.method, "train": c.train, "test": c.test, "shots": c.shots,
                   "seed": c.seed} for c in cells],
        "tasks": entries,
    })


def _follow(jobs: list, tasks: list[Task], store: ResultStore, options: SlurmOptions, progress: bool) -> None:
    """Poll Slurm (one sacct call per poll) and the store until every task has ended."""
    from bench.run.cell_status import LIVE, slurm_states, state_of

    total = sum(len(t.cells) for t in tasks)
    bar = tqdm(total=total, desc="cells (slurm)", unit="cell", disable=not progress)
    unknown_since: dict[str, float] = {}  # task -> when Slurm last stopped answering about it
    while True:
        states = slurm_states([job.job_id for job in jobs])
        now = time.monotonic()
        for job in jobs:
            if state_of(states[job.job_id]) == "unknown":
                unknown_since.setdefault(job.job_id, now)
            else:
                unknown_since.pop(job.job_id, None)
        given_up = [t for t, since in unknown_since.items() if now - since >= UNKNOWN_GIVE_UP_S]
        ended = [job.paths.result_pickle.exists() or job.job_id in given_up
                 or state_of(states[job.job_id]) not in LIVE | {"unknown"} for job in jobs]
        if given_up and all(ended):
            print(f"Slurm (sacct, squeue) has not answered about task(s) {', '.join(given_up)} for "
                  f"{UNKNOWN_GIVE_UP_S // 60} minutes: no longer waiting for them; `bench status --store "
                  f"{store.root}` says what is done, a rerun submits only what is missing", file=sys.stderr)
        done = sum(store.has(c.method, c.key) for t in tasks for c in t.cells)
        bar.update(done - bar.n)
        running = sum(not e for e in ended)
        bar.set_postfix_str(f"{running} task(s) pending or running")
        if all(ended):
            break
        time.sleep(options.poll_seconds)
    bar.close()


def run_slurm(grid: Grid, store: ResultStore, options: SlurmOptions, progress: bool = True) -> SlurmRun:
    """Submit the grid's missing cells as one job array; with options.wait, follow it to the end."""
    from bench.run import cell_status

    grid = _absolute(grid)
    store = ResultStore(store.root.resolve())
    summary = RunSummary()
    # Keys follow the tasks' device, not this node's: with GPUs per task, LM cells are bfloat16 cells.
    # The tasks get the grid with that device, so what they record is what their keys say.
    if grid.device.startswith("cuda") and not options.gpus_per_task:
        raise BenchError("--device cuda with --launcher slurm needs GPUs in each task: add --gpus-per-task 1 "
                         "(or gpus_per_task in --slurm-config)")
    if grid.device == "auto":
        grid = replace(grid, device="cuda" if options.gpus_per_task else "cpu")
    cells = runner.plan(grid)
    runner.write_audits(grid, store)
    groups = runner.pending_groups(cells, store, summary)
    live = cell_status.live_cells(store)  # cells an earlier job is still computing: never run twice
    still_running = [c.key for g in groups for c in g if c.key in live]
    groups = [[c for c in g if c.key not in live] for g in groups]
    groups = [g for g in groups if g]
    result = SlurmRun(summary, still_running=still_running)
    if not groups:
        return result
    tasks = pack_tasks(groups, options.array_parallelism)
    logs = Path(options.logs).resolve() if options.logs else manifest_dir(store) / "logs"
    executor = _executor(options, logs)
    jobs = executor.map_array(run_task, tasks, [grid] * len(tasks), [str(store.root)] * len(tasks))
    job_id = jobs[0].job_id.split("_")[0]
    _write_manifest(store, job_id, tasks, jobs, cells)
    result.job_id, result.logs = job_id, logs / job_id
    result.submitted = [c.key for t in tasks for c in t.cells]
    if not options.wait:
        return result
    _follow(jobs, tasks, store, options, progress)
    for task, job in zip(tasks, jobs, strict=True):
        try:
            outcome: RunSummary = job.result()
        except Exception:  # noqa: BLE001 - failed, cancelled or timed out: its log says why
            outcome = RunSummary()
        for cell in task.cells:
            if cell.key in outcome.computed:
                summary.computed.append(cell.key)
            elif cell.key in outcome.not_applicable:
                summary.not_applicable.append(cell.key)
            elif store.has(cell.method, cell.key):  # written before the task failed on a later cell
                summary.computed.append(cell.key)
            else:
                result.failed[cell.key] = str(job.paths.stderr)
    return result


def add_arguments(parser) -> None:
    """`bench run` options that choose and configure the launcher."""
    parser.add_argument("--launcher", choices=LAUNCHERS, default="local",
                        help="where cells run: here, one after another (local, the default), or as a "
                             "Slurm job array through submitit (slurm)")
    group = parser.add_argument_group("slurm launcher", "with --launcher slurm; unset options come from "
                                      "--slurm-config, then the defaults shown")
    group.add_argument("--slurm-config", type=Path, default=None, metavar="TOML",
                       help="defaults for the options below, as a [slurm] table (also: additional = "
                            "{account = \"x\", qos = \"y\"} for any other sbatch option)")
    group.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's default)")
    group.add_argument("--gpus-per-task", type=int, default=None, help="GPUs per array task (default 0)")
    group.add_argument("--cpus-per-task", type=int, default=None, help="CPUs per array task (default 1)")
    group.add_argument("--mem-gb", type=float, default=None, help="memory per task in GB (default: partition's)")
    group.add_argument("--time-limit", type=int, default=None, metavar="MINUTES",
                       help="time limit per task in minutes (default 60)")
    group.add_argument("--array-parallelism", type=int, default=None,
                       help="array tasks running at once (default 16); beyond it, cells that share a "
                            "base model are packed into one task so the model loads once")
    group.add_argument("--slurm-logs", type=Path, default=None, help="log folder (default: <store>/slurm/logs)")
    group.add_argument("--no-wait", action="store_true",
                       help="submit and return; follow with `bench status`")


def options_from_args(args) -> SlurmOptions:
    return slurm_options(
        args.slurm_config, partition=args.partition, gpus_per_task=args.gpus_per_task,
        cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb, time_limit=args.time_limit,
        array_parallelism=args.array_parallelism, logs=str(args.slurm_logs) if args.slurm_logs else None,
        wait=False if args.no_wait else None,
    )


def launch(args, grid: Grid, store: ResultStore) -> tuple[RunSummary, list[str]]:
    """Run the grid with the launcher `args` names; returns the summary and one-line problems."""
    if args.launcher == "local":
        return run_local(grid, store, progress=not args.no_progress), []
    options = options_from_args(args)
    outcome = run_slurm(grid, store, options, progress=not args.no_progress)
    problems = []
    if outcome.still_running:
        print(f"{len(outcome.still_running)} cells left to an earlier job that is still running "
              "(`bench status`)")
    if outcome.job_id is None:
        print("nothing to submit: every cell is in the store or running")
    else:
        print(f"submitted {len(outcome.submitted)} cells as Slurm job array {outcome.job_id}; "
              f"logs in {outcome.logs}")
    if outcome.job_id is not None and not options.wait:
        print(f"not waiting: follow with `bench status --store {store.root}`; rerun to collect")
    if outcome.failed:
        problems.append(f"{len(outcome.failed)} cells failed (logs: `bench status --store {store.root}`); "
                        "rerun the same command to retry only those")
    return outcome.summary, problems
