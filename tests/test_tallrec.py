"""LoRA rec-tuning on a tiny random Llama: it learns, its adapter reloads, an interrupted run resumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_random_llama import build_tiny_random_llama

from bench.data.domains import load_domain
from bench.data.splits import few_shot
from bench.errors import BenchError
from bench.lm import models
from bench.lm.tuning import tokenize_example
from bench.metrics import auc
from bench.run import registry
from bench.run.identity import key_config, row_label
from methods.lm import TallRec, ZeroShot

TINY_SETTINGS = {"preset": "fast", "learning_rate": "0.01", "micro_batch_size": "8", "batch_size": "16",
                 "epochs": "3", "eval_steps": "2", "patience": "5", "valid_size": "24", "warmup_steps": "0"}


@pytest.fixture(scope="module")
def movie(data_dir):
    return load_domain("movie", data_dir)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, movie):
    models.set_threads(2)
    return str(build_tiny_random_llama(tmp_path_factory.mktemp("tiny_random_llama"), movie.train[:40]))


def make(tiny_folder, **overrides) -> TallRec:
    return registry.build("tallrec", {**TINY_SETTINGS, "model": tiny_folder, **overrides})


def context(artifact_dir, seed=0):
    return registry.FitContext(seed=seed, train_plan="movie", train_domains=["movie"], train_pool=[],
                               artifact_dir=artifact_dir, device="cpu")


def test_presets_and_overrides_are_recorded():
    paper = TallRec(preset="paper")
    assert paper.config()["learning_rate"] == 1e-4 and paper.config()["epochs"] == 200
    assert (paper.lora_r, paper.lora_alpha, paper.lora_dropout, paper.target_modules) == (8, 16, 0.05, "q_proj,v_proj")
    assert (paper.batch_size, paper.micro_batch_size, paper.patience, paper.cutoff_len) == (128, 32, 10, 512)
    assert paper.settings().eval_every(64) == 10 and paper.settings().eval_every(1024) == 40  # finetune_rec.py
    fast = registry.build("tallrec", {"preset": "fast", "learning_rate": "3e-4", "train_on_inputs": "false"})
    assert fast.config()["learning_rate"] == 3e-4 and fast.config()["train_on_inputs"] is False
    assert fast.config()["score"] == "reference" and callable(fast.score)


def test_the_cpu_preset_carries_its_loss_step_budget_and_score_kind():
    cpu = TallRec(preset="cpu")
    assert (cpu.score_kind, cpu.share_prefix, cpu.train_on_inputs, cpu.learning_rate) == ("logodds", True, False, 5e-4)
    assert cpu.settings().max_steps == 96 and key_config(cpu)["max_steps"] == 96
    assert row_label(TallRec, cpu.config()) == (
        "tallrec[model=smollm2-135m-instruct, preset=cpu, precision=float32, score=logodds]")  # its settings unsaid
    other = registry.build("tallrec", {"preset": "cpu", "score": "reference", "share_prefix": "false"})
    assert other.score_kind == "reference" and "share_prefix" not in key_config(other)
    assert row_label(TallRec, other.config()).endswith("score=reference, share_prefix=False]")
    with pytest.raises(BenchError, match="max_steps"):
        TallRec(preset="cpu", max_steps=-1)
    with pytest.raises(BenchError, match="epochs"):
        make("unused", epochs="0")


def test_a_validation_subset_of_one_label_is_a_one_line_error(tiny_folder, movie, tmp_path):
    liked = [s for s in movie.valid if s.label == 1]
    with pytest.raises(BenchError, match="one label only.*valid_size"):
        make(tiny_folder).fit(few_shot(movie.train, 8, 0, "movie"), liked, context(tmp_path))


def test_the_cpu_preset_does_not_move_the_keys_of_committed_cells(monkeypatch, data_dir):
    """`max_steps`, and `score` / `share_prefix` taken from the preset, came after these cells."""
    from pathlib import Path

    from bench.run import runner

    monkeypatch.setenv("BENCH_DATA_DIR", str(data_dir))
    grid = runner.Grid(methods=["tallrec"], shots=[16], seeds=[0], train=["movie"], test=["movie"],
                       params={"tallrec": {"preset": "fast"}}, device="cpu")
    (cell,) = runner.plan(grid)
    records = Path(__file__).resolve().parents[1] / "results" / "records" / "tallrec"
    assert (records / f"{cell.key}.json").is_file()


def test_max_steps_caps_the_steps_and_the_rate_decays_over_them(tiny_folder, movie, tmp_path):
    method = make(tiny_folder, epochs="6", max_steps="2", eval_steps="1")
    method.fit(few_shot(movie.train, 16, 0, "movie"), movie.valid, context(tmp_path / "cell"))
    history = method.extra_record()["history"]
    assert [h["step"] for h in history] == [1, 2] and history[-1]["lr"] == 0.0


def test_training_examples_match_the_authors_format(tiny_folder, movie):
    tokenizer = models.load(tiny_folder, "cpu").tokenizer
    example = tokenize_example(tokenizer, "### Response:\n", "Yes.", cutoff_len=512, train_on_inputs=True)
    assert example["input_ids"][-1] == tokenizer.eos_token_id and example["labels"] == example["input_ids"]
    masked = tokenize_example(tokenizer, "### Response:\n", "Yes.", cutoff_len=512, train_on_inputs=False)
    assert masked["labels"][0] == -100 and masked["labels"][-1] == tokenizer.eos_token_id
    cut = tokenize_example(tokenizer, "### Response:\n" * 50, "Yes.", cutoff_len=16, train_on_inputs=True)
    assert len(cut["input_ids"]) == 16
    with pytest.raises(BenchError, match="no room for the answer.*cutoff_len"):  # its loss would be 0/0
        tokenize_example(tokenizer, "### Response:\n" * 50, "Yes.", cutoff_len=16, train_on_inputs=False)


def test_tuning_lowers_loss_and_the_adapter_reloads_to_identical_scores(tiny_folder, movie, tmp_path):
    from peft import PeftModel

    from bench.data.prompts import alpaca_prompt
    from bench.lm.scorer import LMScorer

    shots = few_shot(movie.train, 16, 0, "movie")
    base = models.load(tiny_folder, "cpu")
    zero_shot = ZeroShot(model=tiny_folder, score="logodds")
    before = zero_shot.score(movie.test[:8])

    method = make(tiny_folder, epochs="6")
    method.fit(shots, movie.valid, context(tmp_path / "cell"))
    extra = method.extra_record()
    losses = [h["train_loss"] for h in extra["history"]]
    assert losses[-1] < losses[0]
    assert extra["valid_samples_used"] == 24 and extra["steps_done"] == 6

    adapter = tmp_path / "cell" / "adapter"
    assert extra["adapter_path"] == str(adapter) and (adapter / "adapter_config.json").is_file()
    valid_used = method._valid_subset(movie.valid)
    assert auc([s.label for s in valid_used], method.score(valid_used)) == pytest.approx(extra["best_valid_auc"], abs=1e-12)

    reloaded = PeftModel.from_pretrained(base.model, str(adapter))
    try:
        texts = [alpaca_prompt(s) for s in movie.test[:8]]
        again = LMScorer(reloaded, base.tokenizer).scores(texts)
        again_logodds = LMScorer(reloaded, base.tokenizer).scores(texts, "logodds")
    finally:
        reloaded.base_model.unload()
    np.testing.assert_allclose(method.score(movie.test[:8]), again, atol=1e-6)
    assert not np.allclose(again_logodds, before, atol=1e-3)  # the adapter changes the scores ...
    np.testing.assert_allclose(zero_shot.score(movie.test[:8]), before, atol=0)  # ... and leaves the base as it was


def test_interrupted_tuning_resumes_from_its_checkpoint(tiny_folder, movie, tmp_path):
    import torch
    from safetensors.torch import load_file

    from bench.lm.tuning import Interrupted

    shots = few_shot(movie.train, 16, 1, "movie")
    whole = make(tiny_folder, epochs="4", patience="10")
    whole.fit(shots, movie.valid, context(tmp_path / "whole", seed=1))

    broken = make(tiny_folder, epochs="4", patience="10")
    broken._stop_after_steps = 3
    with pytest.raises(Interrupted):
        broken.fit(shots, movie.valid, context(tmp_path / "resumed", seed=1))
    assert (tmp_path / "resumed" / "checkpoint.pt").is_file()
    seconds_before = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["state"]["train_seconds"]

    resumed = make(tiny_folder, epochs="4", patience="10")
    resumed.fit(shots, movie.valid, context(tmp_path / "resumed", seed=1))
    assert resumed.extra_record()["resumed_from_step"] == 2
    assert [h["step"] for h in resumed.extra_record()["history"]] == [1, 2, 3, 4]
    assert resumed.extra_record()["train_seconds"] > round(seconds_before, 2) > 0  # the steps before count too
    a = load_file(str(tmp_path / "whole" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=0)
    assert resumed.extra_record()["best_valid_auc"] == pytest.approx(whole.extra_record()["best_valid_auc"], abs=1e-9)

    finished = make(tiny_folder, epochs="4", patience="10")  # a finished cell's adapter is reused, not retrained
    finished.fit(shots, movie.valid, context(tmp_path / "resumed", seed=1))
    assert finished.extra_record()["steps_done"] == 4 and not (tmp_path / "resumed" / "checkpoint.pt").exists()


def test_a_checkpoint_written_before_a_state_field_existed_resumes(tiny_folder, movie, tmp_path):
    """The one rule for older checkpoints (tuning.FRESH_STATE): a state field the checkpoint lacks reads
    at its fresh value, so a checkpoint without `train_seconds` resumes and counts only the steps after."""
    import torch

    from bench.lm.tuning import Interrupted

    shots = few_shot(movie.train, 16, 1, "movie")
    broken = make(tiny_folder, epochs="4", patience="10")
    broken._stop_after_steps = 3
    with pytest.raises(Interrupted):
        broken.fit(shots, movie.valid, context(tmp_path / "old", seed=1))
    path = tmp_path / "old" / "checkpoint.pt"
    saved = torch.load(path, weights_only=False)
    del saved["state"]["train_seconds"]
    torch.save(saved, path)

    resumed = make(tiny_folder, epochs="4", patience="10")
    resumed.fit(shots, movie.valid, context(tmp_path / "old", seed=1))
    assert resumed.extra_record()["resumed_from_step"] == 2 and resumed.extra_record()["train_seconds"] > 0


def test_instruction_stage_is_cached_and_starts_rec_tuning(tiny_folder, movie, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    records = [{"instruction": "Say yes.", "input": "", "output": "Yes."},
               {"instruction": "Say no.", "input": "Really.", "output": "No."}] * 4
    (tmp_path / "alpaca.json").write_text(json.dumps(records))
    shots = few_shot(movie.train, 8, 0, "movie")
    # the rec-tuning step cap is not the stage's: 8 records, one step an epoch, all 3 epochs run
    first = make(tiny_folder, epochs="1", max_steps="1", instruction_epochs="3",
                 instruction_data=str(tmp_path / "alpaca.json"))
    first.fit(shots, movie.valid, context(tmp_path / "a"))
    stage = first.extra_record()["instruction_adapter"]
    assert (tmp_path / "cache").as_posix() in stage
    assert first.extra_record()["instruction_steps"] == 3 and first.extra_record()["steps_done"] == 1
    assert not (Path(stage).parent / "checkpoint.pt").exists()
    mtime = (tmp_path / "cache").joinpath(*stage.split("/cache/")[1].split("/"), "adapter_model.safetensors").stat().st_mtime
    second = make(tiny_folder, epochs="1", max_steps="1", instruction_epochs="3",
                  instruction_data=str(tmp_path / "alpaca.json"))
    second.fit(shots, movie.valid, context(tmp_path / "b", seed=1))
    assert second.extra_record()["instruction_adapter"] == stage
    assert (tmp_path / "cache").joinpath(*stage.split("/cache/")[1].split("/"), "adapter_model.safetensors").stat().st_mtime == mtime


def test_bf16_weights_tune_and_score_as_on_a_gpu(tiny_folder, movie, tmp_path):
    """The GPU path loads the base model in bf16; CPUs run bf16 too (slowly), so its dtype handling is
    checked here: LoRA tuning on bf16 weights lowers the loss, the adapter saves, and the scorer's numbers
    stay close to the float32 model's."""
    import torch
    from transformers import AutoModelForCausalLM

    from bench.data.prompts import ANSWERS, alpaca_prompt, preamble
    from bench.lm.scorer import LMScorer
    from bench.lm.tuning import tune_lora

    tokenizer = models.load(tiny_folder, "cpu").tokenizer
    bf16 = AutoModelForCausalLM.from_pretrained(tiny_folder, dtype=torch.bfloat16).eval()
    float32 = AutoModelForCausalLM.from_pretrained(tiny_folder, dtype=torch.float32).eval()
    prompts = [alpaca_prompt(s) for s in movie.test[:8]]
    low = LMScorer(bf16, tokenizer, shared_prefix=preamble("movie")).log_probs(prompts)
    full = LMScorer(float32, tokenizer, shared_prefix=preamble("movie")).log_probs(prompts)
    assert np.isfinite(low).all()
    np.testing.assert_allclose(low, full, atol=0.05)  # bf16 keeps ~3 significant digits

    shots = few_shot(movie.train, 16, 0, "movie")
    settings = make(tiny_folder, epochs="6").settings()
    examples = [tokenize_example(tokenizer, alpaca_prompt(s), ANSWERS[s.label], 512, True) for s in shots]
    result = tune_lora(bf16, tokenizer, examples, None, settings, seed=0, out_dir=tmp_path / "bf16")
    losses = [h["train_loss"] for h in result.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert (tmp_path / "bf16" / "adapter" / "adapter_config.json").is_file()


def test_shared_prefix_loss_equals_the_plain_loss_and_gradients(tiny_folder, movie):
    """With LoRA dropout 0 the shared-preamble loss is the plain loss: same value, same gradients."""
    import torch
    from peft import get_peft_model

    from bench.data.prompts import ANSWERS, alpaca_prompt
    from bench.lm.tuning import _collate, _shared_prefix_loss

    tokenizer = models.load(tiny_folder, "cpu").tokenizer
    examples = [tokenize_example(tokenizer, alpaca_prompt(s), ANSWERS[s.label], 512, train_on_inputs)
                for s, train_on_inputs in zip(movie.train[:6], [True, True, True, False, False, False], strict=True)]
    base = models.load(tiny_folder, "cpu").model
    settings = make(tiny_folder, lora_dropout="0").settings()
    torch.manual_seed(0)
    model = get_peft_model(base, settings.lora_config())
    try:
        model.train()
        for batch in (examples[:3], examples[3:]):  # loss on all tokens, and on the answer only
            plain = model(**_collate(batch, tokenizer.pad_token_id), use_cache=False).loss
            plain.backward()
            plain_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
            model.zero_grad()
            shared = _shared_prefix_loss(model, batch, tokenizer.pad_token_id, torch.device("cpu"))
            shared.backward()
            assert shared.item() == pytest.approx(plain.item(), rel=1e-5)
            for name, p in model.named_parameters():
                if p.requires_grad:
                    torch.testing.assert_close(p.grad, plain_grads[name], rtol=1e-4, atol=1e-6)
            model.zero_grad()
    finally:
        model.base_model.unload()


def test_share_prefix_is_recorded_and_off_keeps_earlier_keys():
    off, on = TallRec(preset="fast"), registry.build("tallrec", {"preset": "fast", "share_prefix": "true"})
    assert off.config()["share_prefix"] is False and "share_prefix" not in key_config(off)
    assert key_config(on)["share_prefix"] is True
    assert "max_forward_tokens" not in key_config(off)
    assert key_config(registry.build("tallrec", {"max_forward_tokens": "512"}))["max_forward_tokens"] == 512
    with pytest.raises(BenchError, match="max_forward_tokens"):
        TallRec(max_forward_tokens=-1)


@pytest.mark.parametrize("share_prefix", [False, True])
def test_chunked_micro_batch_has_the_loss_and_gradients_of_one_forward(tiny_folder, movie, share_prefix):
    """max_forward_tokens splits a micro-batch of mixed lengths into length-sorted chunks weighted by
    their labelled tokens: with dropout 0, the same loss and gradients as the one padded forward."""
    import torch
    from peft import get_peft_model

    from bench.data.prompts import ANSWERS, alpaca_prompt
    from bench.lm.scorer import length_batches
    from bench.lm.tuning import _micro_batch_backward

    tokenizer = models.load(tiny_folder, "cpu").tokenizer
    # loss on all tokens for some, on the answer only for others: chunks carry very different token counts
    examples = [tokenize_example(tokenizer, alpaca_prompt(s), ANSWERS[s.label], 512, i % 3 != 0)
                for i, s in enumerate(movie.train[:8])]
    budget = 3 * min(len(e["input_ids"]) for e in examples)
    assert len(length_batches([len(e["input_ids"]) for e in examples], 8, budget)) >= 3
    one = make(tiny_folder, lora_dropout="0", share_prefix=str(share_prefix)).settings()
    chunked = make(tiny_folder, lora_dropout="0", share_prefix=str(share_prefix),
                   max_forward_tokens=str(budget)).settings()
    torch.manual_seed(0)
    model = get_peft_model(models.load(tiny_folder, "cpu").model, one.lora_config())
    try:
        model.train()
        grads = []
        losses = []
        for settings in (one, chunked):
            losses.append(_micro_batch_backward(model, examples, tokenizer.pad_token_id, torch.device("cpu"),
                                                settings, accumulation=2))
            grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
            model.zero_grad()
        assert losses[1] == pytest.approx(losses[0], rel=1e-5)
        for name, grad in grads[0].items():
            torch.testing.assert_close(grads[1][name], grad, rtol=1e-4, atol=1e-6)
    finally:
        model.base_model.unload()
