"""Run a grid of cells (methods x train plan x K x seed x test domain) into the results store.

A sample's path: data files -> `bench.data.domains` samples -> `bench.data.splits` shots -> method.fit/score ->
`bench.metrics.auc` -> one record in `bench.run.store`. Cells that share a trained model (same method,
config, train plan, K and seed) are fitted once and scored on each test domain. A finished cell is
never recomputed, so an interrupted run resumes where it stopped.

What a computed record says its cell cost: `fit_seconds` (the group's one fit), `score_seconds`,
`wall_seconds` (its share of the fit plus its scoring), and its own memory peaks over its fit and
scoring: `peak_rss_mb`, the process's largest resident set in MiB, and `peak_cuda_mb` (only where
torch had CUDA in use), the most GPU memory torch held allocated. Both count what was already
resident (interpreter, loaded data, a model an earlier cell left), not what the cell added. A fit
shared by several test-domain cells counts whole in each of them: a cell's peak is the larger of the
fit's peak and that of its own scoring. `peak_rss_source` says how the host peak was taken:
"VmHWM" (Linux: the kernel's high-water mark, reset before the fit and before each scoring),
"VmRSS sampled" (every 10 ms, where the mark cannot be reset) or "ru_maxrss" (elsewhere; the
process's peak, kept only when the cell raised it, else None). Records from before it hold the
process's peak so far, inherited from earlier cells; `bench.run.store.migrate` says so on read.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from itertools import product
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.data import cards
from bench.data.domains import load_domain
from bench.data.splits import check_subset_size, evaluation_subset, train_domains, training_set
from bench.errors import BenchError
from bench.metrics import auc
from bench.run import identity, provenance, registry
from bench.run.memory import MemoryPeak, memory_fields
from bench.run.store import ResultStore, cell_key, stored_values


@dataclass
class Grid:
    """Everything that decides which cells a run computes: the run's one configuration."""

    methods: list[str]
    shots: list[int]
    seeds: list[int]
    train: list[str]
    test: list[str]
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    test_size: int | None = None
    data_dir: str | None = None
    device: str = "auto"
    cards: list[str] = field(default_factory=list)  # the user's data cards (--card), absolute paths


@dataclass
class PlannedCell:
    method: str
    config: dict[str, Any]
    train: str
    test: str
    shots: int
    seed: int
    test_size: int | None
    key: str
    fit_key: str = ""  # identifies the fit alone (no test domain or subset): where its artifacts live


@dataclass
class RunSummary:
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)


def _data_dir(grid: Grid) -> Path | None:
    return Path(grid.data_dir) if grid.data_dir else None


def plan(grid: Grid) -> list[PlannedCell]:
    """All cells of the grid with their keys; validates names, parameters, K, seeds and the test
    subset before anything runs. A value given twice (`--shots 16 16`) is one cell."""
    cells = []
    data_dir = _data_dir(grid)
    cards.register(grid.cards)
    device = _resolve_device(grid.device)
    stray = [name for name in grid.params if name not in grid.methods]
    if stray:
        raise BenchError(f"--param names {', '.join(repr(n) for n in stray)}, not a method of this run "
                         f"({', '.join(grid.methods)}); fix the method name or add it to --method")
    check_subset_size(grid.test_size)
    unique = dict.fromkeys  # ordered, without repeats
    for name in unique(grid.methods):
        method = registry.build(name, grid.params.get(name), device=device)
        precision = method.precision(device)
        in_precision = {"precision": precision} if precision else {}  # absent: float32, as keys always were
        config = {**method.config(), **in_precision}
        result_config = {**identity.key_config(method), **in_precision}
        for train_plan, k, seed, test in product(unique(grid.train), unique(grid.shots), unique(grid.seeds),
                                                 unique(grid.test)):
            shots_from = training_set(train_plan, k, seed, data_dir)  # raises if K is too large
            test_data = load_domain(test, data_dir)
            # A subset as large as the test set is the test set: it gets the full set's key and label.
            test_size = grid.test_size if grid.test_size is None or grid.test_size < len(test_data.test) else None
            cell_identity = {
                "method": name, "config": result_config, "train": train_plan, "test": test, "shots": k,
                "seed": seed, "test_size": test_size,
                "data": {
                    "train": {d.name: d.fingerprints for d in shots_from.domains},
                    "test": test_data.fingerprints["test"],
                },
            }
            fit_identity = {n: v for n, v in cell_identity.items() if n not in ("test", "test_size", "data")}
            fit_identity["data"] = {"train": cell_identity["data"]["train"]}
            cells.append(PlannedCell(name, config, train_plan, test, k, seed, test_size, cell_key(cell_identity),
                              cell_key(fit_identity)))
    return cells


def _fit_group(cell: PlannedCell) -> tuple:
    return (cell.method, repr(sorted(cell.config.items())), cell.train, cell.shots, cell.seed)


def _resolve_device(requested: str) -> str:
    return provenance.default_device() if requested == "auto" else requested


def pending_groups(cells: list[PlannedCell], store: ResultStore, summary: RunSummary) -> list[list[PlannedCell]]:
    """The cells the store lacks, grouped so that each group is fitted once (launchers use this)."""
    pending: dict[tuple, list[PlannedCell]] = {}
    for cell in cells:
        if store.has(cell.method, cell.key):
            summary.reused.append(cell.key)
        else:
            pending.setdefault(_fit_group(cell), []).append(cell)
    return list(pending.values())


def write_audits(grid: Grid, store: ResultStore) -> None:
    """Store the audit of each test domain's data (`bench.data.audit`) once, so that the report, a pure
    function of the store, can say how many users a test set holds and how its samples overlap."""
    from bench.data.audit import audit

    cards.register(grid.cards)
    for name in dict.fromkeys(grid.test):
        domain = load_domain(name, _data_dir(grid))
        if not store.has_audit(name, domain.fingerprints["test"]):
            store.write_audit(name, domain.fingerprints["test"], audit(domain))


def run(grid: Grid, store: ResultStore, progress: bool = True) -> RunSummary:
    """Compute every missing cell of `grid`; returns which cells were computed, reused or n/a."""
    summary = RunSummary()
    grid = replace(grid, device=_resolve_device(grid.device))  # records say the device, not "auto"
    cells = plan(grid)
    write_audits(grid, store)
    groups = pending_groups(cells, store, summary)
    bar = tqdm(total=sum(len(g) for g in groups), desc="cells", unit="cell", disable=not progress)
    for group in groups:
        run_group(group, grid, store, summary, bar)
    bar.close()
    return summary


def _fit(method: registry.Method, first: PlannedCell, shots, domains: list[str], store: ResultStore,
         device: str) -> tuple[float, list[MemoryPeak]]:
    """Fit once for the group: its seconds and memory peak."""
    context = registry.FitContext(
        seed=first.seed, train_plan=first.train, train_domains=domains, train_pool=shots.pool,
        artifact_dir=store.artifact_dir(first.fit_key or first.key), device=device,
    )
    with MemoryPeak() as memory:
        started = time.perf_counter()
        method.fit(shots.shots, shots.valid, context)
        seconds = time.perf_counter() - started
    return seconds, [memory]


def _scored(method: registry.Method, cell: PlannedCell, samples: list, fit_share: float, fit_seconds: float,
            fit_memory: list[MemoryPeak]) -> dict[str, Any]:
    """Score the cell's test samples: the record's result fields (scores, AUC, timing, memory)."""
    with MemoryPeak() as memory:
        started = time.perf_counter()
        scores = stored_values(method.score(samples))  # the AUC is that of the stored scores
        score_seconds = time.perf_counter() - started
    if len(scores) != len(samples) or not all(math.isfinite(s) for s in scores):
        raise BenchError(f"method {cell.method} returned {len(scores)} scores for {len(samples)} "
                         "samples, or a score that is not a finite number")
    labels = [s.label for s in samples]
    fields = dict(
        status="ok", auc=auc(labels, scores), sample_ids=[s.uid for s in samples], labels=labels,
        users=[s.user for s in samples], scores=scores, fit_seconds=fit_seconds, score_seconds=score_seconds,
        wall_seconds=fit_share + score_seconds, **memory_fields(*fit_memory, memory),
        method_extra=method.extra_record(),
    )
    values = method.sample_values()
    if values:
        fields["sample_values"] = {k: stored_values(vs) for k, vs in values.items()}
    return fields


def run_group(group: list[PlannedCell], grid: Grid, store: ResultStore, summary: RunSummary,
              bar: tqdm | None = None) -> None:
    """Fit one method once and write a record for each of its cells (one per test domain).

    What the fit saves goes to a folder named after the fit alone, so a method that keeps its trained
    state there (tallrec's adapter) is not trained again for another test domain or test subset."""
    device = _resolve_device(grid.device)
    provenance.require_device(device)
    common = {
        "device": device,
        "machine": provenance.machine(device),
        "versions": provenance.package_versions(),
        **provenance.git_state(),  # git_commit, and git_diff_sha256 naming what a dirty tree changed
        "run_config": asdict(grid),
    }
    first = group[0]
    data_dir = _data_dir(grid)
    cards.register(grid.cards)  # a task on another node knows only what the grid says
    if bar is not None:
        bar.set_postfix_str(f"{first.method} train={first.train} K={first.shots} seed={first.seed}")
    method = registry.from_config(first.method, first.config)  # as planned and recorded, never rebuilt
    domains = train_domains(first.train)
    shots = training_set(first.train, first.shots, first.seed, data_dir)
    applicable = [c for c in group if method.cross_domain or c.test in domains]
    fit_seconds, fit_memory = _fit(method, first, shots, domains, store, device) if applicable else (0.0, [])
    for cell in group:
        test_data = load_domain(cell.test, data_dir)
        samples = evaluation_subset(test_data.test, cell.test_size)
        record = {
            "key": cell.key, "method": cell.method, "config": cell.config, "train": cell.train,
            "train_domains": domains, "test": cell.test, "shots": cell.shots, "seed": cell.seed,
            "test_size": cell.test_size, "n_test": len(samples),
            "data": {d.name: d.provenance() for d in [*shots.domains, test_data]},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **common,
        }
        if cell not in applicable:
            record.update(status="not-applicable", auc=None,
                          reason=f"{cell.method} uses item ids, which do not carry over from "
                                 f"{first.train} to {cell.test}")
            summary.not_applicable.append(cell.key)
        else:
            record.update(_scored(method, cell, samples, fit_seconds / len(applicable), fit_seconds, fit_memory))
            summary.computed.append(cell.key)
        store.write(record)
        if bar is not None:
            bar.update()
