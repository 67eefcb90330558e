"""The LM methods' `precision` parameter: bfloat16 on a CPU is opt-in, float32 stays the default and keeps
every key it had; on the tiny random Llama a bfloat16 scorer agrees with float32's to ~1e-3 in log-probs."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.domains import load_domain
from bench.data.prompts import alpaca_prompt, preamble
from bench.data.splits import few_shot
from bench.errors import BenchError
from bench.lm import models, tiny_random_llama
from bench.lm.scorer import LMScorer, scores_from_log_probs
from bench.run import registry, runner
from bench.run.identity import row_label


@pytest.fixture(scope="module")
def movie(data_dir):
    return load_domain("movie", data_dir)


@pytest.fixture(scope="module")
def tiny_folder():
    models.set_threads(2)
    return tiny_random_llama.NAME  # built once into the user cache (bench/lm/tiny_random_llama.py)


def _context(artifact_dir):
    return registry.FitContext(seed=0, train_plan="movie", train_domains=["movie"], train_pool=[],
                               artifact_dir=artifact_dir, device="cpu")


def test_a_bfloat16_scorer_is_close_to_float32(tiny_folder, movie):
    """Measured on these 6 movie prompts: largest |log-prob difference| 6.7e-4 (log-probs near -6), of the
    log-odds 9.0e-4; on 64 prompts 1.5e-3 and 1.9e-3; the same with and without the shared preamble. The
    test allows 1e-2."""
    import torch

    f32, b16 = models.load(tiny_folder, "cpu", "float32"), models.load(tiny_folder, "cpu", "bfloat16")
    assert f32 is models.load(tiny_folder, "cpu") and b16 is not f32  # auto on a CPU is float32; one copy each
    assert (f32.model.dtype, b16.model.dtype, b16.precision) == (torch.float32, torch.bfloat16, "bfloat16")
    prompts = [alpaca_prompt(s) for s in movie.test[:6]]
    for shared in (None, preamble("movie")):
        exact = LMScorer(f32.model, f32.tokenizer, batch_size=4, shared_prefix=shared).log_probs(prompts)
        rough = LMScorer(b16.model, b16.tokenizer, batch_size=4, shared_prefix=shared).log_probs(prompts)
        assert 0 < np.abs(rough - exact).max() < 1e-2  # computed in bfloat16, and close
        odds = scores_from_log_probs(rough, "logodds") - scores_from_log_probs(exact, "logodds")
        assert np.abs(odds).max() < 1e-2
        again = LMScorer(b16.model, b16.tokenizer, batch_size=3, shared_prefix=shared).log_probs(prompts)
        np.testing.assert_allclose(again, rough, atol=1e-6)  # still batch-invariant


def test_zero_shot_in_bfloat16_scores_in_bfloat16_and_never_reuses_float32_log_probs(tiny_folder, movie, tmp_path,
                                                                                    monkeypatch):
    from bench.lm import caching

    monkeypatch.setattr(caching, "_SEEN", {})  # the process-wide prompt cache, as if no test had scored yet
    samples = movie.test[:6]
    methods = {}
    for precision in ("float32", "bfloat16"):
        method = registry.build("zero-shot", {"model": tiny_folder, "score": "logodds", "precision": precision})
        method.fit([], [], _context(tmp_path))
        methods[precision] = (method, np.array(method.score(samples)))
        assert method.extra_record()["scored_prompts"] == len(samples)  # not the other precision's, reused
    assert 0 < np.abs(methods["bfloat16"][1] - methods["float32"][1]).max() < 1e-2
    assert methods["bfloat16"][0].config()["precision"] == "bfloat16"


def test_tallrec_tunes_and_scores_in_bfloat16(tiny_folder, movie, tmp_path):
    import torch

    method = registry.build("tallrec", {"model": tiny_folder, "preset": "fast", "precision": "bfloat16",
                                        "learning_rate": "0.01", "micro_batch_size": "8", "batch_size": "8",
                                        "epochs": "1", "eval_steps": "1", "valid_size": "8", "warmup_steps": "0"})
    method.fit(few_shot(movie.train, 8, 0, "movie"), movie.valid, _context(tmp_path / "cell"))
    history = method.extra_record()["history"]
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"]) and np.isfinite(history[0]["valid_auc"])
    scores = method.score(movie.test[:4])
    assert len(scores) == 4 and all(np.isfinite(scores))
    base = models.load(tiny_folder, "cpu", "bfloat16").model
    assert base.dtype == torch.bfloat16 and not hasattr(base, "peft_config")  # LoRA taken out again


def _cell(data_dir, method: str, params: dict[str, str], device: str = "cpu") -> runner.PlannedCell:
    grid = runner.Grid(methods=[method], shots=[16], seeds=[0], train=["movie"], test=["movie"],
                       params={method: params}, data_dir=str(data_dir), device=device)
    return runner.plan(grid)[0]  # planning only: no model is loaded, no GPU needed


@pytest.mark.parametrize("method,params", [("zero-shot", {}), ("tallrec", {"preset": "cpu"}),
                                           ("stack", {"lm": "true"})])
def test_precision_in_config_key_and_label(data_dir, method, params):
    cls = registry.get(method)
    default = _cell(data_dir, method, params)
    assert "precision" not in default.config  # float32 on a CPU: as records were before the parameter
    assert _cell(data_dir, method, {**params, "precision": "float32"}).key == default.key
    bf16 = _cell(data_dir, method, {**params, "precision": "bfloat16"})
    assert bf16.config["precision"] == "bfloat16" and bf16.key != default.key and bf16.fit_key != default.fit_key
    assert "precision=bfloat16" in row_label(cls, bf16.config)
    assert registry.from_config(method, bf16.config).config() == bf16.config
    gpu = _cell(data_dir, method, params, "cuda")  # auto on a GPU: bfloat16, as GPU cells always were
    # bfloat16 is bfloat16 wherever it runs (as float32 is on any CPU): the record's device says where
    assert gpu.config["precision"] == "bfloat16" and gpu.key == bf16.key
    assert _cell(data_dir, method, {**params, "precision": "bfloat16"}, "cuda").key == gpu.key
    gpu_f32 = _cell(data_dir, method, {**params, "precision": "float32"}, "cuda")
    assert gpu_f32.config["precision"] == "float32" and gpu_f32.key not in (default.key, gpu.key)
    if method != "stack":
        assert "precision=float32" in row_label(cls, default.config)  # an LM row says it at float32 too


def test_a_bad_precision_is_a_one_line_error_naming_the_values():
    for method in ("zero-shot", "tallrec", "stack"):
        with pytest.raises(BenchError, match=rf"^{method}: bad precision='fp16'; .*float32 or bfloat16") as error:
            registry.build(method, {"precision": "fp16", **({"lm": "true"} if method == "stack" else {})})
        assert "\n" not in str(error.value)
    with pytest.raises(BenchError, match="precision is that of the LM feature; set lm=true"):
        registry.build("stack", {"precision": "bfloat16"})
    assert "precision" not in registry.build("stack", {}, device="cuda").config()  # no LM: nothing to say
