"""Causal-LM methods: `zero-shot` (the paper's Alpaca row) and `tallrec` (LoRA rec-tuning).

Both score the authors' Alpaca prompt with `bench.lm.scorer` (one forward pass, next-token
P(Yes) / P(No)). The base model comes from `bench.lm.models.load`, which keeps one copy per process:
`tallrec` wraps it with LoRA layers only while it trains or scores and removes them afterwards, so
the next cell (of either method) sees the untouched base weights.

The rec-tuning loop itself, and how it follows the authors' finetune_rec.py, is bench/lm/tuning.py;
this module holds the presets and the two plugins behind the method contract.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.samples import Sample
from bench.errors import BenchError
from bench.lm.caching import CachingScorer
from bench.lm.models import DEFAULT_MODEL, PRECISION_CHOICES, PRECISIONS, key_precision, precision_for
from bench.lm.scorer import SCORES, alpaca_prompts, check_score_kind, sample_log_probs, scores_from_log_probs
from bench.lm.tuning import (
    TuningSettings,
    _file_sha256,
    _without_peft_deprecation_warning,
    discard_checkpoint,
    instruction_examples,
    tokenize_example,
    tune_lora,
)
from bench.run.registry import FitContext, Method, check_parameters, convert_parameter, register


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named recipe: every tuning setting, and the score kind (that also selects the adapter)."""

    settings: TuningSettings
    score: str

    def values(self) -> dict[str, Any]:
        """The parameter values the preset implies, by parameter name."""
        return {**dataclasses.asdict(self.settings), "score": self.score}


# The authors' settings (paper, finetune_rec.py and their shell scripts).
PAPER = Preset(TuningSettings(
    learning_rate=1e-4, lora_r=8, lora_alpha=16, lora_dropout=0.05, target_modules="q_proj,v_proj",
    batch_size=128, micro_batch_size=32, epochs=200, eval_steps=0, patience=10, cutoff_len=512,
    warmup_steps=20, valid_size=0, train_on_inputs=True, max_steps=0, share_prefix=False,
), score="reference")
# Fits the CPU budget of a default run: few optimizer steps at a larger learning rate, selection on a
# fixed 64-sample validation subset. Same LoRA shape, prompt and loss as the paper.
FAST = Preset(dataclasses.replace(
    PAPER.settings, learning_rate=1e-3, micro_batch_size=16, epochs=6, eval_steps=2, patience=2, warmup_steps=0,
    valid_size=64,
), score="reference")
# Chosen on validation AUC only (docs/cpu-recipe.md): the paper's LoRA shape and prompt, the loss on the
# answer only, at most 96 small steps (24 epochs: 96 steps at K=16, 6 epochs at K=64), selection on 128
# validation samples every 16 steps, log-odds scores, the shared preamble run once. About 12 minutes of
# tuning per cell on a 2-core CPU.
CPU = Preset(dataclasses.replace(
    PAPER.settings, learning_rate=5e-4, batch_size=4, micro_batch_size=4, epochs=24, max_steps=96,
    warmup_steps=8, eval_steps=16, patience=3, valid_size=128, train_on_inputs=False, share_prefix=True,
), score="logodds")
PRESETS = {"paper": PAPER, "fast": FAST, "cpu": CPU}


def _lm_device(requested: str) -> str:
    from bench.lm.models import device_and_dtype

    return device_and_dtype(requested)[0]


def check_precision(method: str, precision: str) -> str:
    """`precision` if it is one of `PRECISIONS`, else a one-line error naming the parameter and the values."""
    check_parameters(method, [("precision", precision, precision in PRECISIONS, PRECISION_CHOICES)])
    return precision


def _caching_identity(loaded: Any) -> Any:
    """`loaded` as `CachingScorer` should key it: the cache is keyed by (model location, device), so a model
    loaded in another precision than its device's own is named by device and precision there, and the two
    never share log-probs (a float32 `stack` LM feature beside a bfloat16 zero-shot cell in one process)."""
    if loaded.precision == precision_for(str(loaded.device)):
        return loaded
    return dataclasses.replace(loaded, device=f"{loaded.device}:{loaded.precision}")


def _score_views(record: dict[str, Any], extra_config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The record under each other score kind, from its stored log P(Yes), log P(No): no rerun.

    The log-probs are float32 values kept to 9 significant digits, so they are read back as float32, and
    the scores are kept as a direct run keeps them (`stored_values`): they then equal a direct run's
    stored scores, and so does the AUC."""
    from bench.metrics import auc
    from bench.run.store import stored_values

    values = record.get("sample_values") or {}
    if record.get("status") != "ok" or not {"log_p_yes", "log_p_no"} <= set(values):
        return []
    log_probs = np.stack([np.asarray(values["log_p_yes"], dtype=np.float32),
                          np.asarray(values["log_p_no"], dtype=np.float32)], axis=1)
    views = []
    for kind in SCORES:
        if kind == record["config"].get("score"):
            continue
        scores = stored_values(scores_from_log_probs(log_probs, kind))
        config = {**record["config"], "score": kind, **(extra_config or {})}
        views.append({**record, "config": config, "scores": scores, "auc": auc(record["labels"], scores),
                      "key": f"{record['key']}~{kind}", "view_of": record["key"]})
    return views


class _LMMethod(Method):
    """Shared by the LM methods: the `score` parameter (a score kind) is kept as `score_kind`, because
    `score(samples)` is the method every Method must have.

    Parameters
    ----------
    model : str
        The causal LM: an embedded model name (`bench models list`), a local folder or a hub id.
    score : str
        The score kind: `reference` (the authors' double softmax) or `logodds` (log P(Yes) - log P(No)).
    score_batch_size : int
        Prompts per forward pass when scoring; the scorer is batch-invariant, so it changes speed and
        memory only.
    history : str
        `recent` (the 10 latest items, as the paper) or `retrieved` (the 10 of the user's past most similar
        to the target, ReLLa arXiv 2308.11131; needs a domain built from a log).
    hint : bool
        Add a prompt line with the user's like ratio and the target's like rate in the train pool's logs
        (reads the pool, less the shots' own pairs).
    precision : str
        The model's dtype: `auto` (float32 on a CPU, bfloat16 on a GPU), `float32` or `bfloat16`.
    """

    family = "language-model"
    reads = frozenset({"sample", "shots", "pool"})  # the pool only for the collaborative hint

    # The scorer is batch-invariant (tests/test_lm_scorer.py), so the batch size changes speed only.
    operational_parameters = frozenset({"score_batch_size"})
    always_labelled = ("model", "preset", "precision", "score")
    # The prompt options (bench/lm/prompt_options.py), added after the first LM cells were recorded.
    # Float32 (what `auto` means on a CPU) stays out of the key, as before precision was a parameter; any
    # other precision enters it through `precision(device)`, as bfloat16 on a GPU always has.
    key_neutral_defaults: dict[str, Any] = {"history": "recent", "hint": False, "precision": "float32"}
    history: str = "recent"
    hint: bool = False
    _rates: Any = None

    def _set_prompt_options(self, history: str, hint: bool) -> None:
        from bench.lm.prompt_options import check_history

        self.history, self.hint = check_history(self.name, history), hint

    def _learn_prompt_context(self, shots: list[Sample], context: FitContext) -> None:
        """What the hint needs from the pool: like rates over the pool less the shots' own pairs."""
        if self.hint:
            from bench.data.item_rates import ItemRates
            from bench.data.splits import pool_without

            self._rates = ItemRates(pool_without(context.train_pool, shots))

    def _prompted(self, samples: list[Sample]) -> list[Sample]:
        """The samples as this method's prompts describe them: retrieved history, hint line."""
        from bench.lm import prompt_options

        if self.history == "retrieved":
            samples = prompt_options.retrieved(samples, self.name)
        if self.hint:
            if self._rates is None:
                raise BenchError(f"{self.name}: call fit before score (the hint reads the train pool)")
            samples = prompt_options.with_hints(samples, self._rates)
        return samples

    def config(self) -> dict[str, Any]:
        """Every parameter, but `precision` at `auto`: the runner records what the device implies when that is
        not float32 on a CPU (`precision(device)`), and a config without it is float32 on a CPU, as records
        written before it was a parameter are."""
        attribute = {"score": "score_kind", "precision": "precision_name"}  # score(), precision(): methods
        config = {name: getattr(self, attribute.get(name, name)) for name in self.parameters()}
        if config["precision"] == "auto":
            del config["precision"]
        return config

    def precision(self, device: str) -> str | None:
        return key_precision(device, self.precision_name)

    def sample_values(self) -> dict[str, list[float]]:
        """log P(Yes) and log P(No) of the last `score` call: every score kind is a view of them."""
        if getattr(self, "_log_probs", None) is None:
            return {}
        return {"log_p_yes": self._log_probs[:, 0].tolist(), "log_p_no": self._log_probs[:, 1].tolist()}

    @classmethod
    def views(cls, record: dict[str, Any]) -> list[dict[str, Any]]:
        return _score_views(record)

    def _check_score_kind(self, kind: str) -> str:
        return check_score_kind(kind, f"{self.name}.score")


@register("zero-shot")
class ZeroShot(_LMMethod):
    """An instruction-tuned causal LM, no tuning: P(Yes) vs P(No) after the Alpaca prompt (paper's Alpaca row).

    Its parameters (model, score, score_batch_size, history, hint, precision) are documented on `_LMMethod`.
    """

    test_parameters = {"model": "tiny-random-llama"}

    def __init__(self, *, model: str = DEFAULT_MODEL, score: str = "reference", score_batch_size: int = 16,
                 history: str = "recent", hint: bool = False, precision: str = "auto") -> None:
        self.model = model
        self.score_kind = self._check_score_kind(score)
        self.precision_name = check_precision("zero-shot", precision)
        self.score_batch_size = score_batch_size
        self._set_prompt_options(history, hint)
        self._device = "auto"
        self._stats: dict[str, Any] = {}

    def fit(self, train: list[Sample], valid: list[Sample], context: FitContext) -> None:
        self._device = context.device
        self._learn_prompt_context(train, context)

    def score(self, samples: list[Sample]) -> list[float]:
        """Log-probs do not depend on K, seed or batch company, so a prompt scored once in this process
        (by any cell with the same model and device, of either score kind) is not scored again."""
        from bench.lm.models import load

        samples = self._prompted(samples)
        loaded = load(self.model, _lm_device(self._device), self.precision_name)
        scorer = CachingScorer(_caching_identity(loaded), self.score_batch_size)
        started = time.perf_counter()
        self._log_probs = scorer.log_probs(samples)
        seconds = time.perf_counter() - started
        self._stats = {"model_location": loaded.location, "scored_prompts": scorer.scored,
                       "reused_scores": scorer.reused,
                       "score_prompts_per_second": round(scorer.scored / seconds, 3) if scorer.scored and seconds
                       else None}
        return scores_from_log_probs(self._log_probs, self.score_kind).tolist()

    def extra_record(self) -> dict[str, Any]:
        return dict(self._stats)


# ----------------------------------------------------------------------------------------------------


def _preset_value(preset: dict, key: str, value: Any) -> Any:
    """A parameter left at None takes the preset's value; a CLI string is converted to the preset's type."""
    default = preset[key]
    if value is None:
        return default
    try:
        return convert_parameter(value, default) if isinstance(value, str) else type(default)(value)
    except ValueError as exc:
        raise BenchError(f"bad value for tallrec.{key}: {value!r} ({exc})") from exc


def _auto_preset(device: str) -> str:
    """What `preset=auto` means: the authors' settings on a GPU, the CPU recipe elsewhere."""
    return "paper" if device == "cuda" else "cpu"


@register("tallrec")
class TallRec(_LMMethod):
    """LoRA rec-tuning of a causal LM on the K shots (peft), best adapter by validation AUC (TALLRec).

    Every hyperparameter left unset (None; `score` and `share_prefix` too) takes the preset's value; all
    are recorded. `share_prefix` gives the same loss, except that LoRA dropout on the shared tokens draws
    one mask per micro-batch; it is on in `cpu`, off in `paper` (the authors' computation) and `fast`.
    `max_forward_tokens` is off in every preset (a book micro-batch of 16 in one forward peaks near 15 GB
    with SmolLM2). model, score_batch_size, history, hint and precision are documented on `_LMMethod`.

    Parameters
    ----------
    score : str or None
        `reference` or `logodds`; the validation AUC that selects the adapter uses it too; unset: the
        preset's.
    preset : str
        `paper` (the authors' settings), `cpu` (a recipe chosen on validation AUC for a 2-core CPU:
        answer-only loss, at most 96 small steps, log-odds; docs/cpu-recipe.md), `fast` (a few steps, for
        the bounded cell of the default run) or `auto` (paper for cells run on a CUDA machine, cpu otherwise).
    learning_rate : float or None
        AdamW's peak learning rate (linear warmup, then linear decay); unset: the preset's.
    lora_r : int or None
        LoRA rank, the inner dimension of each adapter; unset: the preset's.
    lora_alpha : int or None
        LoRA scale numerator (updates are scaled by lora_alpha / lora_r); unset: the preset's.
    lora_dropout : float or None
        Dropout on the input of the LoRA layers while tuning; unset: the preset's.
    target_modules : str or None
        Comma-separated names of the modules LoRA wraps (e.g. q_proj,v_proj); unset: the preset's.
    batch_size : int or None
        Examples per optimizer step (gradients accumulate over batch_size / micro_batch_size); unset: the
        preset's.
    micro_batch_size : int or None
        Examples per forward and backward pass: lower it to save memory; unset: the preset's.
    epochs : int or None
        Most passes over the shots (>= 1; max_steps and early stopping may end sooner); unset: the preset's.
    eval_steps : int or None
        Optimizer steps between validation AUC evaluations (0: the authors' rule, 10 for K <= 128, else
        K / 128 * 5); unset: the preset's.
    patience : int or None
        Evaluations without a better validation AUC before tuning stops (the best adapter is kept); unset:
        the preset's.
    cutoff_len : int or None
        Most tokens of a training prompt with its answer (longer ones are truncated); unset: the preset's.
    warmup_steps : int or None
        Optimizer steps of linear learning-rate warmup; unset: the preset's.
    valid_size : int or None
        Validation samples evaluated, a fixed subset the same for every cell (0: all); unset: the preset's.
    train_on_inputs : bool or None
        Loss on the prompt tokens too, as the authors do (false: on the answer only); unset: the preset's.
    instruction_data : str
        An Alpaca-format JSON file for an optional first instruction-tuning stage, cached and reused as the
        starting adapter ("": none).
    instruction_epochs : int
        Epochs of that instruction-tuning stage (>= 1); used only with instruction_data.
    share_prefix : bool or None
        Run the preamble all prompts of a micro-batch share once (about a third fewer tokens on movie);
        unset: the preset's.
    max_forward_tokens : int
        Run each micro-batch as length-sorted chunks of at most this many padded tokens: the same loss, less
        padding, memory bounded by the chunk (0: off).
    max_steps : int or None
        At most this many optimizer steps whatever K, the learning rate decaying over them (0: epochs
        decide); unset: the preset's.
    """

    untuned = "zero-shot"
    presets = {name: preset.values() for name, preset in PRESETS.items()}
    test_parameters = {"model": "tiny-random-llama", "preset": "fast", "epochs": "1", "micro_batch_size": "16",
                       "valid_size": "8", "eval_steps": "1"}

    # Added after the first tallrec cells were recorded; off, it is the authors' computation.
    key_neutral_defaults = {**_LMMethod.key_neutral_defaults, "share_prefix": False, "max_forward_tokens": 0,
                            "max_steps": 0}

    def __init__(self, *, model: str = DEFAULT_MODEL, score: str | None = None, preset: str = "auto",
                 learning_rate: float | None = None, lora_r: int | None = None, lora_alpha: int | None = None,
                 lora_dropout: float | None = None, target_modules: str | None = None,
                 batch_size: int | None = None, micro_batch_size: int | None = None, epochs: int | None = None,
                 eval_steps: int | None = None, patience: int | None = None, cutoff_len: int | None = None,
                 warmup_steps: int | None = None, valid_size: int | None = None,
                 train_on_inputs: bool | None = None, instruction_data: str = "", instruction_epochs: int = 1,
                 share_prefix: bool | None = None, max_forward_tokens: int = 0, max_steps: int | None = None,
                 score_batch_size: int = 16, history: str = "recent", hint: bool = False,
                 precision: str = "auto") -> None:
        from bench.run.provenance import default_device

        arguments = dict(locals())
        if preset == "auto":
            preset = _auto_preset(default_device())
        if preset not in PRESETS:
            raise BenchError(f"tallrec.preset must be one of auto, {', '.join(PRESETS)}; got {preset!r}")
        chosen = PRESETS[preset].values()
        self.model = model
        self.precision_name = check_precision("tallrec", precision)
        self.score_kind = self._check_score_kind(_preset_value(chosen, "score", score))
        self._set_prompt_options(history, hint)
        self.preset = preset
        # a hyperparameter is a TuningSettings field and a keyword here; unset (None), the preset's value
        given = {field.name: arguments[field.name] for field in dataclasses.fields(TuningSettings)}
        for key, value in given.items():
            setattr(self, key, _preset_value(chosen, key, value))
        if self.micro_batch_size <= 0 or self.batch_size <= 0:
            raise BenchError("tallrec.batch_size and micro_batch_size must be positive")
        if self.epochs < 1 or instruction_epochs < 1:
            raise BenchError("tallrec.epochs and instruction_epochs must be at least 1 "
                             "(max_steps caps the steps; 0 epochs would leave no adapter)")
        if self.max_steps < 0:
            raise BenchError(f"tallrec.max_steps must be 0 (epochs decide) or positive, got {self.max_steps}")
        if max_forward_tokens < 0:
            raise BenchError(f"tallrec.max_forward_tokens must be 0 (off) or positive, got {max_forward_tokens}")
        self.max_forward_tokens = max_forward_tokens
        self.instruction_data = instruction_data
        self.instruction_epochs = instruction_epochs
        self.score_batch_size = score_batch_size
        self._device = "auto"
        self._adapter: Path | None = None
        self._extra: dict[str, Any] = {}
        self._stop_after_steps: int | None = None  # test hook: simulate an interrupted run

    @classmethod
    def resolve(cls, kwargs: dict[str, Any], device: str) -> dict[str, Any]:
        """`preset=auto` becomes paper for cells that run on a GPU and cpu elsewhere, decided by the
        device the grid is planned for, not by the machine that plans or runs it."""
        if kwargs.get("preset", "auto") == "auto":
            return {**kwargs, "preset": _auto_preset(device)}
        return kwargs

    def settings(self) -> TuningSettings:
        return TuningSettings(**{field.name: getattr(self, field.name) for field in dataclasses.fields(TuningSettings)})

    def _valid_subset(self, valid: list[Sample]) -> list[Sample]:
        """A fixed subset (the same rule as --test-size), the same for every cell; 0 means all."""
        from bench.data.splits import evaluation_subset

        return evaluation_subset(valid, self.valid_size if self.valid_size > 0 else None)

    def _instruction_adapter(self, loaded: Any, settings: TuningSettings) -> Path | None:
        """The first-stage adapter tuned on `instruction_data`, from the cache or trained once."""
        if not self.instruction_data:
            return None
        from bench.paths import cache_dir

        path = Path(self.instruction_data).expanduser()
        if not path.is_file():
            raise BenchError(f"tallrec.instruction_data {path} does not exist; pass an Alpaca-format JSON file")
        data_sha256 = _file_sha256(path)
        # all of its epochs (the rec-tuning step cap is not its), no validation: the eval settings are not its
        stage = TuningSettings(**{**settings.__dict__, "epochs": self.instruction_epochs, "warmup_steps": 0,
                                  "max_steps": 0})
        used = {k: v for k, v in stage.__dict__.items() if k not in ("eval_steps", "patience", "valid_size")}
        # another precision than the device's own trains another adapter (the device's own keeps older names)
        own = {} if loaded.precision == precision_for(str(loaded.device)) else {"precision": loaded.precision}
        identity = json.dumps({"model": loaded.location, "data": data_sha256, "settings": used, **own},
                              sort_keys=True)
        folder = cache_dir() / "adapters" / f"instruct-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
        if not (folder / "adapter" / "adapter_config.json").is_file() or not (folder / "done").is_file():
            examples = instruction_examples(path, loaded.tokenizer, settings.cutoff_len, settings.train_on_inputs)
            result = tune_lora(loaded.model, loaded.tokenizer, examples, None, stage, seed=0, out_dir=folder)
            discard_checkpoint(folder)
            (folder / "done").write_text(f"{result.steps_done}\n")
        self._extra["instruction_adapter"] = str(folder / "adapter")
        self._extra["instruction_data_sha256"] = data_sha256
        self._extra["instruction_steps"] = int((folder / "done").read_text())
        return folder / "adapter"

    def fit(self, train: list[Sample], valid: list[Sample], context: FitContext) -> None:
        from bench.data.prompts import ANSWERS
        from bench.lm.models import load

        self._device = context.device
        self._learn_prompt_context(train, context)
        train, valid = self._prompted(train), self._prompted(valid)
        loaded = load(self.model, _lm_device(context.device), self.precision_name)
        settings = self.settings()
        out_dir = Path(context.artifact_dir)
        done_file = out_dir / "tuning.json"
        self._adapter = out_dir / "adapter"
        if done_file.is_file() and (self._adapter / "adapter_config.json").is_file():
            self._extra = json.loads(done_file.read_text())  # tuned before; the store keeps the adapter
            self._extra["adapter_path"] = str(self._adapter)  # where it is now (the folder may have moved)
            return
        start = self._instruction_adapter(loaded, settings)
        examples = [tokenize_example(loaded.tokenizer, p, ANSWERS[s.label], settings.cutoff_len,
                                     settings.train_on_inputs) for p, s in zip(alpaca_prompts(train), train, strict=True)]
        valid_used = self._valid_subset(valid)
        result = tune_lora(loaded.model, loaded.tokenizer, examples, valid_used, settings, seed=context.seed,
                           out_dir=out_dir, score_kind=self.score_kind, score_batch_size=self.score_batch_size,
                           start_adapter=start, stop_after_steps=self._stop_after_steps)
        self._extra.update({
            "adapter_path": str(self._adapter), "model_location": loaded.location,
            "valid_samples_used": len(valid_used), "best_step": result.best_step,
            "best_valid_auc": result.best_valid_auc, "steps_done": result.steps_done,
            "stopped_early": result.stopped_early, "resumed_from_step": result.resumed_from_step,
            "train_seconds": round(result.train_seconds, 2), "train_tokens": sum(len(e["input_ids"]) for e in examples),
            "history": result.history,
        })
        from bench.files import write_json_atomically

        write_json_atomically(done_file, self._extra)
        discard_checkpoint(out_dir)

    def score(self, samples: list[Sample]) -> list[float]:
        from peft import PeftModel

        from bench.lm.models import load

        if self._adapter is None:
            raise BenchError("tallrec must be fitted before scoring")
        samples = self._prompted(samples)
        loaded = load(self.model, _lm_device(self._device), self.precision_name)
        model = _without_peft_deprecation_warning(PeftModel.from_pretrained, loaded.model, str(self._adapter))
        try:
            started = time.perf_counter()
            self._log_probs = sample_log_probs(model, loaded.tokenizer, samples, self.score_batch_size)
            seconds = time.perf_counter() - started
        finally:
            model.base_model.unload()
        self._extra["score_prompts_per_second"] = round(len(samples) / seconds, 3) if seconds else None
        return scores_from_log_probs(self._log_probs, self.score_kind).tolist()

    def extra_record(self) -> dict[str, Any]:
        return dict(self._extra)

    @classmethod
    def views(cls, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The adapter was chosen by validation AUC under the record's own score kind: a view under
        another kind says so (`selected_by`), and is not the cell tuned with that kind."""
        return _score_views(record, {"selected_by": record["config"].get("score")})
