"""The method contract and the registry of methods by name.

A method is one class: configure in the constructor (keyword arguments with defaults, which are
its parameters), `fit(train, valid, context)` on the K shots, `score(samples)` returning one float
per sample (higher = more likely liked). The harness owns data, splits, seeds, timing and storage;
a method never reads files or parses flags. Methods, the built-in ones included, are found through
the entry-point group `bench.methods` ("name = module:Class", in pyproject.toml); `@register("name")`
also registers a class in-process (tests' toy methods).
"""

from __future__ import annotations

import abc
import functools
import inspect
import math
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from bench.data.samples import Sample
from bench.errors import BenchError

ENTRY_POINT_GROUP = "bench.methods"

#: Method families, in the order reports list rows and draw panels: (tag, title).
FAMILIES = (("training-free", "training-free baselines"), ("sequential", "sequential recommenders"),
            ("language-model", "language models"), ("collaborative", "collaborative and CTR models"),
            ("other", "other methods"))
#: What a method may read besides the sample it scores (its own history and target).
READS = {"sample": "only the sample being scored", "shots": "the K shots (and the validation set)",
         "pool": "the train pool's interaction logs", "item-text": "item titles beyond the prompt's",
         "api": "a remote model behind an API"}


@dataclass
class FitContext:
    """What the harness hands a method besides its shots.

    `train_pool` is the whole pool the shots were drawn from (interaction logs a method may use only
    if its docstring says so); `artifact_dir` is where it may save what it trained.
    """

    seed: int
    train_plan: str
    train_domains: list[str]
    train_pool: list[Sample]
    artifact_dir: Path
    device: str


class Method(abc.ABC):
    """The contract a method implements; the harness does the rest (data, seeds, keys, labels, storage).

    A plugin writes keyword-only constructor parameters with defaults (its `--param`s, documented in a
    numpydoc "Parameters" section), `score` (one float per sample, higher = more likely liked), `fit`
    unless it is training-free, and the tags below that are not at their defaults. Optional: `resolve`,
    `precision`, `extra_record`, `sample_values`, `views`. The harness reads parameters through
    `parameters` and `config`, and keys and labels cells with bench.run.identity. For example:

        @register("history-length")
        class HistoryLength(Method):
            \"\"\"Longer histories score higher (a toy).

            Parameters
            ----------
            scale : float
                Multiplies the history length.
            \"\"\"

            training_free = True
            family = "training-free"
            reads = frozenset({"sample"})

            def __init__(self, *, scale: float = 1.0) -> None:
                self.scale = scale

            def score(self, samples: list[Sample]) -> list[float]:
                return [self.scale * len(s.history) for s in samples]

    bench.testing.check_method runs the conformance checks on it.
    """

    name: ClassVar[str] = ""
    # Tags: what the method is, declared by the method; the harness never decides by a name.
    #: Learns nothing from the shots or the logs' labels by optimisation: a candidate for the bar
    #: (the strongest training-free cell of a column), whoever registered it.
    training_free: ClassVar[bool] = False
    #: The row group of reports and figures: a tag of FAMILIES.
    family: ClassVar[str] = "other"
    #: What it may read (keys of READS); the sample being scored is always readable.
    reads: ClassVar[frozenset[str]] = frozenset({"shots"})
    #: False for methods whose item ids do not carry over to an unseen domain.
    cross_domain: ClassVar[bool] = True
    #: The registered name of this method without its tuning (a tuned LM's zero-shot counterpart), for
    #: the report's "does tuning help?" comparison; empty if none.
    untuned: ClassVar[str] = ""
    #: Parameters that change how a result is computed but not the result (threads, concurrency,
    #: retries, batch sizes of a batch-invariant scorer): recorded with each cell, left out of its key.
    operational_parameters: ClassVar[frozenset[str]] = frozenset()
    #: Parameters added after results were recorded, with the value that reproduces the earlier
    #: behaviour: left out of the key while they hold it, so earlier cells keep their keys (recorded).
    key_neutral_defaults: ClassVar[dict[str, Any]] = {}
    #: Parameters a report row always names, at their defaults too (an LM row says its model, preset,
    #: precision and score kind, so that a small CPU run cannot pass for the paper's LLaMA-7B row).
    always_labelled: ClassVar[tuple[str, ...]] = ()
    #: Values of a `preset` parameter and the parameter values each implies: a row names its preset and
    #: only the settings that depart from it.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    # Tags for the conformance checks (bench.testing), which read them and keep no list of methods.
    #: The parameters the checks build it with, as `--param` strings: the fastest run that still exercises it.
    test_parameters: ClassVar[dict[str, str]] = {}
    #: Talks to an OpenAI-compatible chat server at its `base_url` parameter: the checks serve one on 127.0.0.1.
    needs_chat_server: ClassVar[bool] = False

    @classmethod
    def resolve(cls, kwargs: dict[str, Any], device: str) -> dict[str, Any]:
        """Fix what depends on where the cells will run (a preset chosen by device) when the grid is
        planned, so that the recorded config says what ran; the default has nothing to fix."""
        return kwargs

    def fit(self, train: list[Sample], valid: list[Sample], context: FitContext) -> None:  # noqa: B027 - optional
        """Learn from the K shots; training-free methods keep this as it is."""

    @abc.abstractmethod
    def score(self, samples: list[Sample]) -> list[float]:
        """One float per sample, in order; higher means more likely liked. Never reads `label`."""

    def precision(self, device: str) -> str | None:
        """How this method computes on `device` when that is not float32 on the CPU (an LM in bfloat16
        on a GPU, a RecBole model's float32 CUDA kernels): it enters the cell key, so a GPU cell never
        stands in for a CPU cell whose scores it only approximates. None keeps the key as it always was."""
        return None

    def extra_record(self) -> dict[str, Any]:
        """Anything the method wants stored with its cells (e.g. an adapter path, token counts)."""
        return {}

    def sample_values(self) -> dict[str, list[float]]:
        """Per-sample numbers of the last `score` call besides the score (an LM's log P(Yes) and
        log P(No)), stored with the record so that other views of one result need no rerun."""
        return {}

    @classmethod
    def views(cls, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Records derived from a stored one without rerunning (an LM record under another score kind,
        from its `sample_values`); each names its source in `view_of`. None by default."""
        return []

    @classmethod
    def parameters(cls) -> dict[str, inspect.Parameter]:
        params = inspect.signature(cls.__init__).parameters
        return {n: p for n, p in params.items() if n != "self" and p.kind is p.KEYWORD_ONLY}

    def config(self) -> dict[str, Any]:
        """The full configuration (every parameter, defaults included), as recorded."""
        return {name: getattr(self, name) for name in self.parameters()}


_REGISTRY: dict[str, type[Method]] = {}


def register(name: str):
    """Class decorator: make a Method available to `bench run --method name`."""

    def decorate(cls: type[Method]) -> type[Method]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise BenchError(f"two methods are registered as {name!r}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def available() -> dict[str, type[Method]]:
    """All methods: those registered in this process, and every installed package's entry points in
    the `bench.methods` group, the built-in ones included (pyproject.toml names them), so the contract
    never imports its plugins. Method modules import heavy libraries (torch, recbole, openai) inside
    functions, so that listing methods stays fast."""
    _load_entry_points()
    return dict(sorted(_REGISTRY.items()))


@functools.cache
def _load_entry_points() -> None:
    """Once per process: scanning the installed packages' metadata takes milliseconds, and reports ask
    for tags thousands of times."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            cls = ep.load()
            register(ep.name)(cls)


def tags(cls: type[Method]) -> dict[str, Any]:
    """A method class's tags, as `bench list` shows them."""
    return {"training_free": cls.training_free, "family": cls.family, "reads": sorted(cls.reads),
            "cross_domain": cls.cross_domain, **({"untuned": cls.untuned} if cls.untuned else {}),
            **({"presets": "/".join(cls.presets)} if cls.presets else {})}


def tag(method: str, name: str, default: Any = None) -> Any:
    """The tag `name` of a registered method; `default` for a method not installed here (a record
    written by a plugin this process lacks)."""
    found = available().get(method)
    return getattr(found, name) if found is not None else default


def parameter_docs(cls: type[Method]) -> dict[str, str]:
    """One line per parameter of `cls`, from the numpydoc "Parameters" sections of its class docstrings:
    an entry `name : type`, then its indented description (the first paragraph, joined into one line).
    The MRO is read subclass first, so a base class documents shared parameters once and a subclass's own
    entry wins; a parameter no class documents gets "" (bench.testing's check_parameters_documented refuses that)."""
    found: dict[str, str] = {}
    for klass in cls.__mro__:
        if klass is Method:
            continue  # the contract's own "Parameters" section is an example's
        lines, own, name = inspect.cleandoc(klass.__doc__ or "").splitlines(), {}, None
        heads = [i for i, line in enumerate(lines[:-1])
                 if line.strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"}]
        indent = len(lines[heads[0]]) - len(lines[heads[0]].lstrip()) if heads else 0
        for line in lines[heads[0] + 2:] if heads else []:
            text, depth = line.strip(), len(line) - len(line.lstrip())
            head, colon, _ = text.partition(":")
            if not text:
                name = None  # a description's first paragraph ends at a blank line
            elif depth > indent:
                if name:
                    own[name] = f"{own[name]} {text}".lstrip()
            elif colon and head.strip().isidentifier():
                name = head.strip()
                own[name] = ""
            else:
                break  # the section ends at the first other line at its own indentation
        for key, value in own.items():
            found.setdefault(key, value)
    return {n: found.get(n, "") for n in cls.parameters()}


def get(name: str) -> type[Method]:
    methods = available()
    if name not in methods:
        raise BenchError(f"unknown method {name!r}; `bench list` shows the available ones: "
                         f"{', '.join(methods)}")
    return methods[name]


def convert_parameter(value: str, default: Any) -> Any:
    """A command-line string as the type of `default` (true/false for booleans); ValueError if it is not one."""
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if default is None:
        return value
    return type(default)(value)


def check_parameters(method: str, checks: list[tuple[str, Any, bool, str]]) -> None:
    """Refuse the first bad value with a one-line error naming it and the fix; each check is
    (parameter, value, ok, what it must be). Methods call this in their constructor, so a bad
    `--param` fails when the grid is planned, before anything runs."""
    for param, value, ok, fix in checks:
        if not ok:
            raise BenchError(f"{method}: bad {param}={value!r}; set {param} to {fix} (--param {method}.{param}=VALUE)")


def is_count(value: Any, least: int) -> bool:
    """An integer (not a bool) of at least `least`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def is_positive(value: Any) -> bool:
    """A finite number > 0 (NaN and infinity refused)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def build(name: str, overrides: dict[str, str] | None = None, device: str | None = None) -> Method:
    """Instantiate method `name` with string overrides converted to each parameter's default type; with
    `device`, what depends on where it runs is fixed for that device (`Method.resolve`)."""
    cls = get(name)
    params = cls.parameters()
    kwargs = {}
    for key, value in (overrides or {}).items():
        if key not in params:
            raise BenchError(f"method {name!r} has no parameter {key!r}; it has: {', '.join(params) or 'none'}")
        try:
            kwargs[key] = convert_parameter(value, params[key].default)
        except ValueError as exc:
            raise BenchError(f"bad value for {name}.{key}: {exc}") from exc
    if device is not None:
        kwargs = cls.resolve(kwargs, device)
    return cls(**kwargs)


def from_config(name: str, config: dict[str, Any]) -> Method:
    """The method exactly as planned: every parameter from its resolved, recorded config, never again
    from command-line strings, the environment or the machine it happens to run on."""
    cls = get(name)
    params = cls.parameters()
    return cls(**{k: v for k, v in config.items() if k in params})
