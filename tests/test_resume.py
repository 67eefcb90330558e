"""An interrupted run (kill -9 midway) loses nothing that finished; the rerun computes only the
missing cells and ends with the same records as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SLOW_PLUGIN = '''
import time
from bench.run.registry import Method

class SlowLikeRatio(Method):
    """like-ratio that takes its time, so a run can be killed midway."""

    def __init__(self, *, delay: float = 0.4) -> None:
        self.delay = delay

    def score(self, samples):
        time.sleep(self.delay)
        return [sum(h.liked for h in s.history) / max(len(s.history), 1) for s in samples]
'''

VOLATILE = {"created", "fit_seconds", "score_seconds", "wall_seconds", "peak_rss_mb", "peak_cuda_mb", "run_config",
            "git_diff_sha256"}  # what a dirty tree changed may change between the runs in a shared checkout


def slow_plugin_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    info = site / "slow_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "slow_plugin.py").write_text(SLOW_PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slow-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[bench.methods]\nslow = slow_plugin:SlowLikeRatio\n")
    return {**os.environ, "PYTHONPATH": str(site)}


def bench_run(store: Path, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "bench.cli", "run", "--method", "slow", "like-ratio", "--shots", "16",
            "--seeds", "0", "1", "2", "3", "4", "5", "--test-size", "100", "--no-progress",
            "--store", str(store), "--data-dir", str(data_dir)]


def records(store: Path) -> dict[str, dict]:
    found = {}
    for path in (store / "records").glob("*/*.json"):
        record = json.loads(path.read_text())
        found[record["key"]] = {k: v for k, v in record.items() if k not in VOLATILE}
    return found


def test_killed_run_resumes_with_only_missing_cells(tmp_path, data_dir):
    env = slow_plugin_env(tmp_path)
    interrupted, uninterrupted = tmp_path / "interrupted", tmp_path / "uninterrupted"

    proc = subprocess.Popen(bench_run(interrupted, data_dir), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while len(list(interrupted.glob("records/slow/*.json"))) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never wrote two records"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = records(interrupted)
    assert 2 <= len(saved) < 12, "the kill must land midway"

    rerun = subprocess.run(bench_run(interrupted, data_dir), env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{12 - len(saved)} cells computed, {len(saved)} already in" in rerun.stdout

    full = subprocess.run(bench_run(uninterrupted, data_dir), env=env, capture_output=True, text=True,
                          timeout=300)
    assert full.returncode == 0, full.stderr
    assert records(interrupted) == records(uninterrupted)
    assert len(records(uninterrupted)) == 12
