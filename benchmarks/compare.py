"""Compare a pytest-benchmark JSON file with the committed baseline, as ratios.

Each benchmark's median is divided by the median of the calibration benchmark measured in the same
run (benchmarks/test_calibration.py), on both sides; the report is (now / calibration) divided by
(baseline / calibration). A ratio above --threshold is a regression: exit status 1. Benchmarks new
since the baseline are listed, not judged. `--update` writes the current run as the new baseline.

usage: python benchmarks/compare.py CURRENT.json benchmarks/baseline.json [--threshold 1.5] [--update]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

CALIBRATION = "benchmarks/test_calibration.py::test_calibration_workload"


def medians(run: dict) -> dict[str, float]:
    """fullname -> median seconds, from a pytest-benchmark JSON file or from a baseline file."""
    if "benchmarks" in run and isinstance(run["benchmarks"], list):
        return {b["fullname"]: float(b["stats"]["median"]) for b in run["benchmarks"]}
    return {name: float(v["median"]) for name, v in run["medians"].items()}


def relative(values: dict[str, float]) -> tuple[dict[str, float], bool]:
    """Each median over the calibration median (False and raw seconds when there is no calibration)."""
    calib = values.get(CALIBRATION)
    if not calib:
        return dict(values), False
    return {name: v / calib for name, v in values.items()}, True


def compare(current: dict[str, float], baseline: dict[str, float], threshold: float) -> tuple[list[str], bool]:
    now, now_calibrated = relative(current)
    base, base_calibrated = relative(baseline)
    calibrated = now_calibrated and base_calibrated
    lines = [f"{'benchmark':70} {'ratio':>7}  verdict",
             "(ratio = now / baseline, each relative to the calibration in its own run)" if calibrated else
             "(no calibration in both runs: raw medians compared, expect noise)"]
    failed = False
    for name in sorted(now):
        if name == CALIBRATION:
            continue
        if name not in base:
            lines.append(f"{name:70} {'-':>7}  new (no baseline)")
            continue
        ratio = now[name] / base[name]
        verdict = "ok"
        if ratio > threshold:
            verdict, failed = f"SLOWER than {threshold}x", True
        elif ratio < 1 / threshold:
            verdict = "faster (update the baseline?)"
        lines.append(f"{name:70} {ratio:7.2f}  {verdict}")
    for name in sorted(set(base) - set(now) - {CALIBRATION}):
        lines.append(f"{name:70} {'-':>7}  not run this time")
    return lines, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("current", type=Path, help="pytest-benchmark JSON of this run (--benchmark-json)")
    parser.add_argument("baseline", type=Path, help="committed baseline file")
    parser.add_argument("--threshold", type=float, default=1.5, help="ratio above which a benchmark fails")
    parser.add_argument("--update", action="store_true", help="write this run as the baseline")
    args = parser.parse_args(argv)
    run = json.loads(args.current.read_text())
    current = medians(run)
    if args.update:
        baseline = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "machine": run.get("machine_info", {}).get("cpu", {}).get("brand_raw", "unknown"),
                    "calibration": CALIBRATION,
                    "medians": {name: {"median": v} for name, v in sorted(current.items())}}
        args.baseline.write_text(json.dumps(baseline, indent=1) + "\n")
        print(f"wrote {len(current)} benchmark medians to {args.baseline}")
        return 0
    if not args.baseline.is_file():
        print(f"no baseline at {args.baseline}: create it with --update", file=sys.stderr)
        return 2
    lines, failed = compare(current, medians(json.loads(args.baseline.read_text())), args.threshold)
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
