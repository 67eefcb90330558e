"""`bench check`: rerun a fixed small suite and compare every cell with committed references.

The suite lives in one file (bench/run/check_suite.toml): a few defaults, a tolerance per metric, and
one line per method. Its cells run into a temporary store; each is matched to its reference by
what identifies it (method, config, train, test, K, seed, test subset) and compared: status, sample
ids and labels exactly; every per-sample score within the score tolerance; the AUC within the range
the reference's scores can reach when each moves within that tolerance (`metrics.auc_reach`), widened
by the AUC tolerance. So float noise that swaps two near-tied scores on another CPU passes, and a
change that moves the AUC further than the scores' tolerance allows fails. Anything else is drift,
reported with the cell's name. `--update` rewrites the references, on
purpose only: the diff in git is then the review of what changed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.metrics import auc_reach
from bench.run import runner
from bench.run.store import ResultStore, record_identity

SUITE_FILE = Path(__file__).with_name("check_suite.toml")
#: The committed references, a results store of their own (`bench report --store` reads it too).
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "results" / "reference"
DEFAULT_KEYS = ("test_size", "shots", "seeds", "train", "test")


@dataclass
class SuiteEntry:
    """One line of the suite: one method's grid, and its tolerances."""

    grid: runner.Grid
    tolerance: dict[str, float]


@dataclass
class Drift:
    cell: str
    message: str


@dataclass
class CheckResult:
    cells: int
    drifts: list[Drift] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drifts

    def text(self) -> str:
        if self.ok:
            return f"bench check: {self.cells} cells match the references"
        lines = [f"bench check: {len(self.drifts)} difference(s) from the references in {self.cells} cells:"]
        lines += [f"  {d.cell}: {d.message}" for d in self.drifts]
        lines.append("If the change is intended, rewrite the references with `bench check --update` and commit them.")
        return "\n".join(lines)


def load_suite(path: Path = SUITE_FILE, data_dir: Path | None = None) -> list[SuiteEntry]:
    try:
        suite = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"cannot read the check suite {path}: {exc}") from exc
    defaults = {k: suite[k] for k in DEFAULT_KEYS if k in suite}
    tolerance = suite.get("tolerance", {})
    entries = []
    for line in suite.get("suite", {}).get("cells", []):
        if "method" not in line:
            raise BenchError(f"a line of {path} has no method: {line}")
        spec = {**defaults, **line}
        params = {line["method"]: {k: str(v) for k, v in line.get("params", {}).items()}}
        grid = runner.Grid(
            methods=[line["method"]], shots=list(spec["shots"]), seeds=list(spec["seeds"]),
            train=list(spec["train"]), test=list(spec["test"]), params=params,
            test_size=spec.get("test_size"), data_dir=str(data_dir) if data_dir else None, device="cpu")
        entries.append(SuiteEntry(grid, {**tolerance, **line.get("tolerance", {})}))
    if not entries:
        raise BenchError(f"the check suite {path} lists no cells ([suite] cells = [...])")
    return entries


def cell_name(record: dict[str, Any]) -> str:
    config = ", ".join(f"{k}={v}" for k, v in sorted(record["config"].items()))
    subset = f" test_size={record['test_size']}" if record.get("test_size") else ""
    return (f"{record['method']}{f'[{config}]' if config else ''} train={record['train']} test={record['test']} "
            f"K={record['shots']} seed={record['seed']}{subset}")


def compare_records(new: dict[str, Any], ref: dict[str, Any], tolerance: dict[str, float]) -> list[str]:
    """What differs between a fresh record and its reference (empty: within tolerance)."""
    problems = []
    if new["key"] != ref["key"]:
        problems.append("the cell key differs from the reference's (different data files, or a change in "
                        "what the key covers)")
    if new["status"] != ref["status"]:
        return problems + [f"status {new['status']!r}, reference {ref['status']!r}"]
    if new["status"] != "ok":
        return problems
    if new["sample_ids"] != ref["sample_ids"]:
        return problems + ["the test samples differ from the reference's"]
    if new["labels"] != ref["labels"]:
        return problems + ["the test labels differ from the reference's"]
    if "users" in ref and new.get("users") != ref["users"]:
        return problems + ["the test samples' users differ from the reference's"]
    tol_auc = float(tolerance.get("auc", 0.0))
    tol_scores = float(tolerance.get("scores", 0.0))
    low, high = auc_reach(ref["labels"], ref["scores"], tol_scores)
    low, high = low - tol_auc, high + tol_auc
    if not low <= new["auc"] <= high:
        problems.append(f"auc {new['auc']:.6f}, reference {ref['auc']:.6f} (difference "
                        f"{new['auc'] - ref['auc']:+.2e}; the reference scores moved within {tol_scores:g} "
                        f"reach [{low:.6f}, {high:.6f}])")
    diffs = [(abs(a - b), i) for i, (a, b) in enumerate(zip(new["scores"], ref["scores"], strict=True))]
    over = [(d, i) for d, i in diffs if d > tol_scores]
    if over:
        worst, i = max(over)
        problems.append(f"{len(over)} of {len(diffs)} scores differ by more than {tol_scores:g}; largest at sample "
                        f"{ref['sample_ids'][i]}: {new['scores'][i]!r}, reference {ref['scores'][i]!r}")
    for name, values in (ref.get("sample_values") or {}).items():  # e.g. an LM's log P(Yes), log P(No)
        fresh = (new.get("sample_values") or {}).get(name)
        if fresh is None or len(fresh) != len(values):
            problems.append(f"the record lacks the reference's per-sample {name}")
        elif (worst := max(abs(a - b) for a, b in zip(fresh, values, strict=True))) > tol_scores:
            problems.append(f"per-sample {name} differ by up to {worst:.3g}, more than {tol_scores:g}")
    return problems


def run_suite(entries: list[SuiteEntry], store: ResultStore) -> dict[tuple, tuple[dict, dict[str, float]]]:
    """Run every line into `store`; identity -> (record, tolerance)."""
    cells: dict[tuple, tuple[dict, dict[str, float]]] = {}
    for entry in entries:
        summary = runner.run(entry.grid, store, progress=False)
        keys = set(summary.computed + summary.reused + summary.not_applicable)
        for record in store.records():
            if record["key"] in keys:
                cells[record_identity(record)] = (record, entry.tolerance)
    return cells


def check(suite: Path = SUITE_FILE, reference: Path = REFERENCE_DIR, data_dir: Path | None = None,
          update: bool = False) -> CheckResult:
    entries = load_suite(suite, data_dir)
    if not update and not (Path(reference) / "records").is_dir():  # before the suite runs, not after
        raise BenchError(f"no references in {reference}; pass the folder that holds them with --reference "
                         "(a checkout's results/reference), or create them with `bench check --update`")
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        fresh = run_suite(entries, ResultStore(Path(tmp)))
        if update:
            _write_references(fresh, Path(reference))
            return CheckResult(len(fresh))
    ref_store = ResultStore(Path(reference))
    refs = {record_identity(r): r for r in ref_store.records()}
    result = CheckResult(len(fresh))
    for identity, (record, tolerance) in sorted(fresh.items(), key=lambda kv: cell_name(kv[1][0])):
        ref = refs.get(identity)
        if ref is None:
            result.drifts.append(Drift(cell_name(record), "no reference for this cell (new in the suite?)"))
            continue
        result.drifts += [Drift(cell_name(record), p) for p in compare_records(record, ref, tolerance)]
    for identity in sorted(set(refs) - set(fresh), key=lambda i: cell_name(refs[i])):
        result.drifts.append(Drift(cell_name(refs[identity]), "a reference cell the suite no longer produces"))
    return result


def _write_references(fresh: dict[tuple, tuple[dict, dict[str, float]]], reference: Path) -> None:
    """Replace the references with `fresh` so that a crash never leaves a partial set.

    The new records and test sets are written into a folder beside `reference`, which is then
    swapped in (old renamed aside, new renamed in, old deleted). A crash while writing leaves the old
    references as they were; one between the two renames leaves both sets whole, the old one under
    `.<name>.old-*` beside it. Other files in the folder (anything but records/ and testsets/) are
    carried over; test sets no new record uses are dropped."""
    reference = Path(reference)
    reference.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(dir=reference.parent, prefix=f".{reference.name}.new-"))
    try:
        os.chmod(new, reference.stat().st_mode & 0o7777 if reference.is_dir() else 0o755)
        if reference.is_dir():
            for entry in reference.iterdir():
                if entry.name in ("records", "testsets"):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.copytree(entry, new / entry.name, symlinks=True)
                else:
                    shutil.copy2(entry, new / entry.name, follow_symlinks=False)
        store = ResultStore(new)
        for record, _ in fresh.values():
            store.write(record)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    old = new.with_name(new.name.replace(".new-", ".old-", 1))
    if reference.exists():
        os.rename(reference, old)
    os.rename(new, reference)
    shutil.rmtree(old, ignore_errors=True)
