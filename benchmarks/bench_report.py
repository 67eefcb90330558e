"""Side by side: `bench report` (tables, no figures) on the committed store and on a store 10x its size.

The 10x store holds the committed records ten times over: nine copies of each under renamed domains
(`movie-x1`, ...), every copy's scores nudged by its own noise so that no AUC is shared (runs that
scored alike stay alike, so a copy's cells have the original's number of distinct runs). Columns keep
their size, so this is a user with ten times the test sets, and the time should grow about tenfold.
(Ten times the methods in one column would grow faster by design: Holm over m tests needs about 80 x m
resamples per test once m > 25, see `statistics.resamples_for`.)

    python benchmarks/bench_report.py                 # the committed store (./results)
    python benchmarks/bench_report.py --copies 10 --store results
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np


def _copy(record: dict, copy: int) -> dict:
    """One record under renamed domains, its scores nudged (the test set's samples stay the same)."""
    record = dict(record)
    rename = {name: f"{name}-x{copy}" for name in {record["train"], record["test"]}}
    record["train"], record["test"] = rename[record["train"]], rename[record["test"]]
    record["train_domains"] = [f"{d}-x{copy}" for d in record.get("train_domains", [])]
    record["data"] = {f"{d}-x{copy}": facts for d, facts in (record.get("data") or {}).items()}
    record["key"] = f"{record['key']}x{copy}"
    if "scores" in record:  # a cell that did not apply has none
        scores = np.asarray(record["scores"], dtype=float)
        # noise drawn from the copy and the scores themselves: seeds that scored alike (a deterministic
        # method's) still do, so each copy's cells hold as many distinct runs as the original's
        rng = np.random.default_rng([copy, zlib.crc32(scores.tobytes())])
        record["scores"] = (scores + rng.normal(0, 1e-3 * (np.std(scores) or 1), len(scores))).tolist()
    return record


def build(source: Path, target: Path, copies: int) -> int:
    from bench.run.store import ResultStore

    records = list(ResultStore(source).records())
    store = ResultStore(target)
    for record in records:
        store.write(record)
        for copy in range(1, copies):
            store.write(_copy(record, copy))
    return len(records) * copies


def timed_report(store: Path, out: Path) -> float:
    from bench.report.render import write_reports
    from bench.run.store import ResultStore

    start = time.perf_counter()
    write_reports(ResultStore(store), out, figures=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=Path("results"))
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    from bench.run import registry

    registry.available()  # imports and plugin discovery once, outside both timings
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "store"
        n_big = build(args.store, big, args.copies)
        n_one = n_big // args.copies
        one = timed_report(args.store, Path(tmp) / "out1")
        many = timed_report(big, Path(tmp) / "out10")
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}")
    print(f"| store | records | report without figures (s) |\n|---|---:|---:|\n| 1x | {n_one} | {one:.1f} |\n"
          f"| {args.copies}x | {n_big} | {many:.1f} |")
    print(f"ratio {args.copies}x / 1x: {many / one:.2f} (target: at most {1.2 * args.copies:.1f})")


if __name__ == "__main__":
    main()
