"""LoRA rec-tuning of a causal LM on the K shots (what the `tallrec` method runs).

The loop follows the authors' finetune_rec.py (HF Trainer with peft LoRA): Alpaca prompt + answer
("Yes." / "No.") + EOS, truncated to `cutoff_len`, loss on all tokens (train_on_inputs), AdamW (no
weight decay), linear warmup then linear decay, gradient accumulation from `batch_size` /
`micro_batch_size`, validation AUC every `eval_steps` optimizer steps (the authors' rule: 10 for
K <= 128, else K / 128 * 5), early stopping after `patience` evaluations without improvement, and
the best adapter kept. Differences, all deliberate: validation may use a fixed subset (`valid_size`,
because CPU scoring is slow), the validation AUC comes from the same scorer as the test scores,
batches are padded on the right, and the final step is evaluated too. An interrupted tuning resumes
from its checkpoint; the best adapter is replaced atomically.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.data.samples import Sample
from bench.errors import BenchError
from bench.files import atomic_write
from bench.lm.scorer import pad_token_id, sample_scores


@dataclass
class TuningSettings:
    learning_rate: float
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: str
    batch_size: int
    micro_batch_size: int
    epochs: int
    eval_steps: int  # 0: the authors' rule
    patience: int
    cutoff_len: int
    warmup_steps: int
    valid_size: int  # 0: the whole validation set
    train_on_inputs: bool
    share_prefix: bool = False  # run the tokens a micro-batch shares (the preamble) once: _shared_prefix_loss
    max_forward_tokens: int = 0  # > 0: a micro-batch runs as length-sorted chunks of this many padded tokens
    max_steps: int = 0  # > 0: stop after this many optimizer steps (and decay the rate over them), whatever K

    def lora_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                          target_modules=[m.strip() for m in self.target_modules.split(",") if m.strip()],
                          bias="none", task_type="CAUSAL_LM")

    @property
    def accumulation(self) -> int:
        return max(1, self.batch_size // self.micro_batch_size)

    def eval_every(self, n_train: int) -> int:
        if self.eval_steps > 0:
            return self.eval_steps
        return 10 if n_train <= 128 else max(1, round(n_train / 128 * 5))  # finetune_rec.py


def tokenize_example(tokenizer: Any, prompt: str, answer: str, cutoff_len: int, train_on_inputs: bool) -> dict:
    """As finetune_rec.py: prompt + answer, truncated to cutoff_len, EOS appended when it fits, labels =
    input ids (prompt tokens masked with -100 only when train_on_inputs is False)."""
    ids = tokenizer(prompt + answer, truncation=True, max_length=cutoff_len)["input_ids"]
    eos = tokenizer.eos_token_id
    if eos is not None and (not ids or ids[-1] != eos) and len(ids) < cutoff_len:
        ids = ids + [eos]
    labels = list(ids)
    if not train_on_inputs:
        n_prompt = len(tokenizer(prompt, truncation=True, max_length=cutoff_len)["input_ids"])
        if n_prompt >= len(ids):
            raise BenchError(f"a training prompt fills all {cutoff_len} tokens of cutoff_len, leaving no room for the "
                             "answer (its loss would be empty); raise tallrec.cutoff_len")
        labels = [-100] * n_prompt + labels[n_prompt:]
    return {"input_ids": ids, "labels": labels}


def _collate(examples: list[dict], pad_id: int) -> dict:
    """Right padding; padded labels are -100 so they add no loss."""
    import torch

    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n] = torch.tensor(e["input_ids"])
        labels[row, :n] = torch.tensor(e["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _plain_loss(model: Any, examples: list[dict], pad_id: int, device: Any) -> Any:
    """The micro-batch's mean next-token loss as the authors compute it: one padded forward."""
    batch = {k: v.to(device) for k, v in _collate(examples, pad_id).items()}
    return model(**batch, use_cache=False).loss


def _shared_prefix_loss(model: Any, examples: list[dict], pad_id: int, device: Any) -> Any:
    """The micro-batch's loss exactly as `model(**_collate(examples)).loss` computes it (mean cross-entropy
    over every labelled next token), with the token prefix all examples share (the Alpaca preamble) run
    once and its key/value cache, gradients included, reused by each example's own tokens.

    Same numbers up to float rounding when LoRA dropout is 0; with dropout, the prefix gets one dropout
    mask for the micro-batch instead of one per example, a different (equally unbiased) sample of
    noise. Why: the preamble is about a third of each movie prompt, so this saves that much compute."""
    import torch
    import torch.nn.functional as F

    from bench.lm.scorer import cache_keyword, common_prefix_length, unwrapped

    first = examples[0]
    shared = min(min(common_prefix_length(first["input_ids"], e["input_ids"]),
                     common_prefix_length(first["labels"], e["labels"]), len(e["input_ids"]) - 1) for e in examples)
    if shared < 2:
        return _plain_loss(model, examples, pad_id, device)
    keyword = cache_keyword(unwrapped(model))
    n, width = len(examples), max(len(e["input_ids"]) for e in examples) - shared
    prefix = model(input_ids=torch.tensor([first["input_ids"][:shared]], device=device), use_cache=True)
    cache = getattr(prefix, keyword)
    cache.batch_repeat_interleave(n)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width + shared), dtype=torch.long)
    mask[:, :shared] = 1
    targets = torch.full((n, width), -100, dtype=torch.long)  # targets[i, j]: the label after rest token j
    boundary = torch.full((n,), -100, dtype=torch.long)  # the label after the prefix's last token
    for row, e in enumerate(examples):
        own = len(e["input_ids"]) - shared
        ids[row, :own] = torch.tensor(e["input_ids"][shared:])
        mask[row, shared : shared + own] = 1
        targets[row, : own - 1] = torch.tensor(e["labels"][shared + 1 :])
        boundary[row] = e["labels"][shared]
    rest = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=True, **{keyword: cache})
    prefix_logits = prefix.logits[0].float()
    inside = torch.tensor(first["labels"][1:shared], device=device)  # the same for every example
    total = (n * F.cross_entropy(prefix_logits[:-1], inside, ignore_index=-100, reduction="sum")
             + F.cross_entropy(prefix_logits[-1:].expand(n, -1), boundary.to(device), ignore_index=-100,
                               reduction="sum")
             + F.cross_entropy(rest.logits.float().flatten(0, 1), targets.flatten().to(device), ignore_index=-100,
                               reduction="sum"))
    count = n * int((inside != -100).sum()) + int((boundary != -100).sum()) + int((targets != -100).sum())
    return total / max(count, 1)


def _labelled_tokens(examples: list[dict]) -> int:
    """How many next-token targets a causal-LM loss averages over: labels after the first, not -100."""
    return sum(sum(1 for label in e["labels"][1:] if label != -100) for e in examples)


def _micro_batch_backward(model: Any, examples: list[dict], pad_id: int, device: Any, settings: TuningSettings,
                          accumulation: int) -> float:
    """Backpropagate the micro-batch's mean next-token loss / `accumulation`; return that loss.

    With `settings.max_forward_tokens`, the micro-batch runs as length-sorted chunks of at most that many
    padded tokens, each chunk's mean weighted by its share of the labelled tokens: the same loss and
    gradients up to float rounding (LoRA dropout draws its masks per chunk), without the padding a
    batch of mixed lengths carries (29% of a book micro-batch of 16) and with a memory peak set by the
    chunk instead of the micro-batch. Without it: one forward, the authors' computation."""
    from bench.lm.scorer import length_batches

    step_loss = _shared_prefix_loss if settings.share_prefix else _plain_loss
    if settings.max_forward_tokens <= 0:
        loss = step_loss(model, examples, pad_id, device)
        (loss / accumulation).backward()
        return loss.item()
    total = _labelled_tokens(examples)
    value = 0.0
    for chunk in length_batches([len(e["input_ids"]) for e in examples], len(examples), settings.max_forward_tokens):
        part = [examples[i] for i in chunk]
        weight = _labelled_tokens(part) / total if total else 0.0
        if weight == 0.0:
            continue  # nothing to learn from these tokens; the one-forward loss would not count them either
        loss = step_loss(model, part, pad_id, device)
        (loss * (weight / accumulation)).backward()
        value += loss.item() * weight
    return value


def _step_batches(n: int, settings: TuningSettings, seed: int, step: int, steps_per_epoch: int) -> list[list[int]]:
    """The micro-batches (example indices) of optimizer step `step`: a pure function of (seed, step),
    so a resumed run visits exactly the examples the interrupted one would have."""
    import torch

    epoch, group = divmod(step, steps_per_epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
    micro = [order[i : i + settings.micro_batch_size] for i in range(0, n, settings.micro_batch_size)]
    return micro[group * settings.accumulation : (group + 1) * settings.accumulation]


def _save_adapter_atomically(peft_model: Any, target: Path) -> None:
    """Replace the adapter at `target` so that a crash at any moment (kill -9 included) leaves a
    complete adapter there: the new one is written into a folder of its own, then `target`, a
    symbolic link, is switched to it with one atomic rename, and only then is the old folder removed.
    A `target` that is still a plain folder (written before this scheme) is moved aside first."""
    import uuid

    folder = target.with_name(f"{target.name}-{uuid.uuid4().hex[:8]}")
    peft_model.save_pretrained(str(folder))
    previous = target.resolve() if target.is_symlink() else None
    if target.is_dir() and not target.is_symlink():  # the old layout: keep it whole until the switch
        previous = target.with_name(f"{target.name}-legacy-{uuid.uuid4().hex[:8]}")
        os.replace(target, previous)
    link = target.with_name(f".{target.name}.link-{uuid.uuid4().hex[:8]}")
    os.symlink(folder.name, link)
    os.replace(link, target)  # atomic: `target` names the old adapter or the new one, never neither
    if previous is not None and previous != folder.resolve():
        shutil.rmtree(previous, ignore_errors=True)


def _save_checkpoint_atomically(payload: dict, path: Path) -> None:
    import torch

    with atomic_write(path, "wb") as f:
        torch.save(payload, f)


class Interrupted(Exception):
    """Raised by the test hook `stop_after_steps` to simulate a crash mid-training."""


@dataclass
class TuningResult:
    best_step: int
    best_valid_auc: float | None
    steps_done: int
    stopped_early: bool
    history: list[dict]
    resumed_from_step: int
    train_seconds: float  # all steps that count, those before a resume included


def _without_peft_deprecation_warning(wrap: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a peft wrapper without the FutureWarning peft 0.21 triggers by reading transformers'
    deprecated `is_gradient_checkpointing` (docs/stack.md): it says nothing a user of this tool can act on."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return wrap(*args, **kwargs)


def _checkpoint_path(out_dir: Path) -> Path:
    return out_dir / "checkpoint.pt"


def discard_checkpoint(out_dir: Path) -> None:
    """Once the caller has recorded the finished tuning: the best adapter is what stays, not the resume point."""
    _checkpoint_path(out_dir).unlink(missing_ok=True)


def _schedule(n: int, settings: TuningSettings) -> tuple[int, int, int]:
    """(optimizer steps in all, steps per epoch, evaluate every so many steps) for n examples."""
    micro_per_epoch = math.ceil(n / settings.micro_batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / settings.accumulation)
    total_steps = steps_per_epoch * settings.epochs
    if settings.max_steps > 0:
        total_steps = min(total_steps, settings.max_steps)
    return total_steps, steps_per_epoch, settings.eval_every(n)


def _setup(base: Any, settings: TuningSettings, seed: int, start_adapter: Path | None, total_steps: int):
    """The LoRA model (new, or from `start_adapter`), its AdamW optimizer and linear warmup schedule."""
    import torch
    from peft import PeftModel, get_peft_model
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)  # LoRA's initial A matrices: a function of the cell's seed
    if start_adapter is not None:
        model = _without_peft_deprecation_warning(PeftModel.from_pretrained, base, str(start_adapter), is_trainable=True)
    else:
        model = _without_peft_deprecation_warning(get_peft_model, base, settings.lora_config())
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
    return model, optimizer, get_linear_schedule_with_warmup(optimizer, settings.warmup_steps, total_steps)


#: The training state of a run that has not started. The one rule for older checkpoints: a field a
#: checkpoint lacks (written before the field was kept) reads at its value here, what the code that
#: wrote it assumed (`train_seconds`: the seconds of the steps up to the checkpoint, carried over a resume).
FRESH_STATE: dict[str, Any] = {"step": 0, "best_auc": None, "best_step": 0, "bad_evals": 0, "history": [],
                               "stopped_early": False, "train_seconds": 0.0}


def _resume(model: Any, optimizer: Any, scheduler: Any, checkpoint_path: Path) -> dict[str, Any]:
    """The training state: from the checkpoint where one exists (adapter, optimizer and schedule restored),
    else a fresh one."""
    import torch
    from peft import set_peft_model_state_dict

    if not checkpoint_path.is_file():
        return copy.deepcopy(FRESH_STATE)  # its history list is the run's own
    saved = torch.load(checkpoint_path, weights_only=False)
    set_peft_model_state_dict(model, saved["adapter"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    return {**copy.deepcopy(FRESH_STATE), **saved["state"]}


def _train_step(model: Any, optimizer: Any, scheduler: Any, examples: list[dict], settings: TuningSettings,
                seed: int, step: int, steps_per_epoch: int, pad_id: int, device: Any, bar: tqdm) -> float:
    """One optimizer step over its micro-batches; the mean micro-batch loss."""
    import torch

    torch.manual_seed(seed * 1_000_003 + step)  # dropout: same masks after a resume
    batches = _step_batches(len(examples), settings, seed, step, steps_per_epoch)
    losses = []
    for done, micro in enumerate(batches, start=1):
        losses.append(_micro_batch_backward(model, [examples[i] for i in micro], pad_id, device, settings,
                                            len(batches)))
        bar.set_postfix_str(f"micro-batch {done}/{len(batches)}")  # a CPU step takes minutes
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return sum(losses) / len(losses)


def _evaluate(model: Any, tokenizer: Any, valid: list[Sample] | None, state: dict[str, Any], entry: dict[str, Any],
              settings: TuningSettings, total_steps: int, adapter_dir: Path, score_kind: str,
              score_batch_size: int) -> None:
    """Score the validation set; keep the adapter if it is the best so far, else count toward patience."""
    from bench.metrics import auc

    step = entry["step"]
    if valid:
        scores = sample_scores(model, tokenizer, valid, score_kind, score_batch_size)
        entry["valid_auc"] = auc([s.label for s in valid], scores)
        improved = state["best_auc"] is None or entry["valid_auc"] > state["best_auc"]
    else:
        improved = True
    if improved:
        state.update(best_auc=entry.get("valid_auc"), best_step=step, bad_evals=0)
        _save_adapter_atomically(model, adapter_dir)
    else:
        state["bad_evals"] += 1
        state["stopped_early"] = state["bad_evals"] >= settings.patience and step < total_steps


def _checkpoint(model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any], path: Path) -> None:
    from peft import get_peft_model_state_dict

    _save_checkpoint_atomically({"adapter": get_peft_model_state_dict(model), "optimizer": optimizer.state_dict(),
                                 "scheduler": scheduler.state_dict(), "state": state}, path)


def tune_lora(base: Any, tokenizer: Any, train_examples: list[dict], valid: list[Sample] | None,
              settings: TuningSettings, *, seed: int, out_dir: Path, score_kind: str = "reference",
              score_batch_size: int = 16, start_adapter: Path | None = None,
              stop_after_steps: int | None = None) -> TuningResult:
    """LoRA-tune `base` on tokenized examples; keep the best adapter (by validation AUC, or the last one
    when `valid` is None) in peft format at out_dir/adapter. A checkpoint at out_dir/checkpoint.pt after
    every evaluation lets an interrupted run resume. The base model is returned to its original state.
    Reads as a recipe: schedule, setup, resume, then per step train, evaluate, checkpoint."""
    out_dir.mkdir(parents=True, exist_ok=True)
    adapter_dir, checkpoint_path = out_dir / "adapter", _checkpoint_path(out_dir)
    if not train_examples:
        raise BenchError("LoRA tuning needs at least one training example (K >= 1)")
    if valid and len({s.label for s in valid}) < 2:
        raise BenchError(f"the {len(valid)} validation samples used for selection hold one label only, so AUC is "
                         "undefined; use more (tallrec.valid_size, 0 for the whole validation set)")
    total_steps, steps_per_epoch, eval_every = _schedule(len(train_examples), settings)
    pad_id = pad_token_id(tokenizer)
    model, optimizer, scheduler = _setup(base, settings, seed, start_adapter, total_steps)
    try:
        state = _resume(model, optimizer, scheduler, checkpoint_path)
        resumed_from = state["step"]
        device = next(model.parameters()).device
        seconds_before = state["train_seconds"]
        started = time.perf_counter()
        model.train()
        bar = tqdm(total=total_steps, initial=state["step"], desc="tuning", unit="step", leave=False,
                   disable=None)  # on a terminal only, as the scorer's: a log file gets no bar redraws
        while state["step"] < total_steps and not state["stopped_early"]:
            loss = _train_step(model, optimizer, scheduler, train_examples, settings, seed, state["step"],
                               steps_per_epoch, pad_id, device, bar)
            state["step"] = step = state["step"] + 1
            entry = {"step": step, "train_loss": loss, "lr": scheduler.get_last_lr()[0]}
            if step % eval_every == 0 or step == total_steps:
                _evaluate(model, tokenizer, valid, state, entry, settings, total_steps, adapter_dir, score_kind,
                          score_batch_size)
                state["history"].append(entry)
                state["train_seconds"] = seconds_before + time.perf_counter() - started
                _checkpoint(model, optimizer, scheduler, state, checkpoint_path)
            else:
                state["history"].append(entry)
            bar.update()
            bar.set_postfix(loss=f"{entry['train_loss']:.3f}", **({"valid_auc": f"{entry['valid_auc']:.3f}"}
                                                                  if "valid_auc" in entry else {}))
            if stop_after_steps is not None and step >= stop_after_steps:
                raise Interrupted(f"stopped after step {step} (test hook)")
        bar.close()
        model.eval()
        return TuningResult(best_step=state["best_step"], best_valid_auc=state["best_auc"],
                            steps_done=state["step"], stopped_early=state["stopped_early"],
                            history=state["history"], resumed_from_step=resumed_from,
                            train_seconds=seconds_before + time.perf_counter() - started)
    finally:
        model.base_model.unload()  # take the LoRA layers out of the shared base model
        base.eval()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def instruction_examples(path: Path, tokenizer: Any, cutoff_len: int, train_on_inputs: bool) -> list[dict]:
    """Alpaca-format records (instruction / input / output) tokenized with the same template."""
    from bench.data.prompts import ALPACA_TEMPLATE

    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchError(f"cannot read instruction data {path} ({exc}); pass an Alpaca-format JSON list") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) and "instruction" in r and "output" in r
                                                for r in records):
        raise BenchError(f"{path} is not a JSON list of {{instruction, input, output}} records (Alpaca format)")
    examples = []
    for r in records:
        prompt = ALPACA_TEMPLATE.format(instruction=r["instruction"], input=r.get("input", ""))
        examples.append(tokenize_example(tokenizer, prompt, r["output"], cutoff_len, train_on_inputs))
    return examples
