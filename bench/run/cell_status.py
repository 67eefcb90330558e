"""Per-cell state of Slurm submissions, for `bench status` and for reruns that must not run a live cell twice.

A cell is `done` when the store holds its record (the only source of truth: tasks write records
atomically, so a failed or cancelled task leaves none). Otherwise the latest submission that
included it says where it is: `pending` or `running` while its array task is queued or running,
`failed` (with the task's log) once the task ended without writing it, `unknown` when Slurm's
accounting (sacct) cannot be asked, and `missing` when no submission ran it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from bench.run.store import ResultStore

LIVE = {"pending", "running"}
_SLURM_TO_STATE = {"PENDING": "pending", "REQUEUED": "pending", "REQUEUE_HOLD": "pending",
                   "CONFIGURING": "running", "RUNNING": "running", "COMPLETING": "running",
                   "SUSPENDED": "running", "UNKNOWN": "unknown"}


@dataclass
class CellState:
    key: str
    method: str
    what: str                 # "train->test K=.. seed=.."
    state: str                # done | pending | running | failed | unknown | missing
    task_id: str | None = None
    slurm_state: str | None = None
    log: str | None = None


def _manifests(store: ResultStore) -> list[dict]:
    folder = store.root / "slurm"
    found = [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(found, key=lambda m: int(m["job_id"]))


def _ask(command: list[str]) -> str | None:
    """A Slurm client command's output, or None when it cannot answer."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def slurm_states(task_ids: list[str]) -> dict[str, str]:
    """Slurm's state of each array task ("123_4"): sacct's (read by submitit's parser), else squeue's.
    A task squeue does not list has left the queue: ENDED, whether sacct has no record of it (an array
    task cancelled while still queued) or cannot be asked (accounting off, where an OOM-killed or
    cancelled task leaves no trace). UNKNOWN only where neither command answers."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    if not task_ids:
        return {}
    jobs = ",".join(sorted({t.split("_")[0] for t in task_ids}))
    accounting = _ask(["sacct", "-o", "JobID,State,NodeList", "--parsable2", "-j", jobs])
    info = SlurmInfoWatcher().read_info(accounting) if accounting is not None else {}
    states = {t: (info.get(t, {}).get("State") or "UNKNOWN").split()[0].upper() for t in task_ids}
    if any(state == "UNKNOWN" for state in states.values()):
        queue = _ask(["squeue", "-h", "-r", "-o", "%i|%T", "-j", jobs])
        queued = dict(line.split("|", 1) for line in (queue or "").split() if "|" in line)
        for task_id, state in states.items():
            if state == "UNKNOWN":
                states[task_id] = queued.get(task_id) or ("ENDED" if queue is not None else "UNKNOWN")
    return states


def state_of(slurm_state: str) -> str:
    """A task's Slurm state as a cell state; ended states (COMPLETED included) read as failed, since a
    cell is done only when its record is in the store."""
    return _SLURM_TO_STATE.get(slurm_state, "failed")


def cell_states(store: ResultStore) -> list[CellState]:
    """Every cell of every recorded submission, with its state; the latest submission of a cell wins."""
    cells: dict[str, CellState] = {}
    tasks: dict[str, dict] = {}
    for manifest in _manifests(store):
        for cell in manifest["cells"]:
            what = f"{cell['train']}->{cell['test']} K={cell['shots']} seed={cell['seed']}"
            cells.setdefault(cell["key"], CellState(cell["key"], cell["method"], what, "missing"))
        for task in manifest["tasks"]:
            for cell in task["cells"]:
                tasks[cell["key"]] = task
    states = slurm_states(sorted({t["task_id"] for t in tasks.values()}))
    for key, cell in cells.items():
        task = tasks.get(key)
        if store.has(cell.method, key):
            cell.state = "done"
        elif task is not None:
            slurm = states.get(task["task_id"], "UNKNOWN")
            cell.task_id, cell.slurm_state, cell.log = task["task_id"], slurm, task["stderr"]
            cell.state = state_of(slurm)
        if cell.state == "done":
            cell.task_id = task["task_id"] if task else None
    return list(cells.values())


def live_cells(store: ResultStore) -> set[str]:
    """Keys of cells that a submitted task is still going to compute (pending or running)."""
    return {c.key for c in cell_states(store) if c.state in LIVE}


def format_states(states: list[CellState]) -> str:
    """A table for the terminal: one line per cell, then counts; logs only where something failed."""
    if not states:
        return "no Slurm submissions recorded in this store (bench run --launcher slurm writes them)"
    lines = [f"{'state':8} {'method':14} {'cell':32} {'task':12} log"]
    for c in sorted(states, key=lambda c: (c.method, c.what)):
        log = c.log if c.state in {"failed", "unknown"} else ""
        slurm = f" ({c.slurm_state})" if c.state == "failed" and c.slurm_state else ""
        lines.append(f"{c.state:8} {c.method:14} {c.what:32} {c.task_id or '-':12} {log}{slurm}")
    counts: dict[str, int] = {}
    for c in states:
        counts[c.state] = counts.get(c.state, 0) + 1
    lines.append(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    return "\n".join(lines)

