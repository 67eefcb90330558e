"""Public conformance checks for methods, in the spirit of scikit-learn's `check_estimator`.

A plugin package runs on its own method the checks every built-in method passes:

    from bench.testing import parametrize_with_checks

    @parametrize_with_checks([MyMethod])
    def test_bench_contract(method, check):
        check(method)

or, outside pytest, `check_method(MyMethod)`, which raises an AssertionError naming the first failed
check and why. The checks: the method is registered under its name, documents every parameter, builds
from its defaults, its config rebuilds it, it gives one finite float per test sample, the same seed gives
the same scores, and no score depends on a test label (every test label reversed: nothing changes).

A method adjusts the checks through its own class attributes (`bench.run.registry.Method`), never through
lists kept here: `test_parameters`, the `--param` strings it is checked with (the fastest settings that
still exercise it), and `needs_chat_server`: the checks then serve the untrained tiny-random-llama over
OpenAI-compatible HTTP on 127.0.0.1 (`bench.lm.openai_server`, any model name answered) and pass the
server's URL as the method's `base_url`.

The data is small and real: the movie domain (`load_domain("movie", data_dir)`: `data_dir`, else
$BENCH_DATA_DIR, the user cache, then the MovieLens-100K copy inside the recbole wheel, so a plugin
needs no data folder), 16 shots (seed 0), 40 validation and 24 test samples. Methods fit on the CPU;
while one runs, $BENCH_CACHE_DIR is a scratch folder of the checks (response caches, built models).
pytest is imported only by `parametrize_with_checks`.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import itertools
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.samples import Sample
from bench.run import registry

#: What the checks fit on: the movie domain, 16 shots, the first 40 validation and 24 test samples.
DOMAIN, SHOTS, VALID_SIZE, TEST_SIZE = "movie", 16, 40, 24
#: Scores that must agree (the same seed; labels reversed) may differ by this much, float noise.
ATOL = 1e-6

Check = Callable[..., None]


@dataclass(frozen=True)
class CheckData:
    shots: list[Sample]
    valid: list[Sample]
    test: list[Sample]
    pool: list[Sample]


@dataclass(frozen=True)
class _Reference:
    """The first fit of a method (seed 0, the real test labels): what the other checks compare with."""

    config: dict[str, Any] | None = None
    scores: list[float] | None = None
    error: BaseException | None = None


class CheckSetup:
    """What the checks share, made on first need and kept: the data, a scratch folder, the chat server
    and each method's reference fit (so that the checks together fit a method three times). A context
    manager; `close()` stops the server and removes a scratch folder it made itself.

    `data_dir`: where the movie files are (None: $BENCH_DATA_DIR, the user cache, the recbole wheel's
    copy); `tmp_path`: the scratch folder (None: a temporary one)."""

    def __init__(self, data_dir: str | Path | None = None, tmp_path: str | Path | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir else None
        self._own_tmp = None if tmp_path else tempfile.TemporaryDirectory(prefix="bench-checks-")
        self.tmp_path = Path(tmp_path) if tmp_path else Path(self._own_tmp.name)
        self._data: CheckData | None = None
        self._server: Any = None
        self._references: dict[type, _Reference] = {}
        self._runs = itertools.count()

    def __enter__(self) -> CheckSetup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._references.clear()
        if self._own_tmp is not None:
            self._own_tmp.cleanup()
            self._own_tmp = None

    def data(self) -> CheckData:
        if self._data is None:
            from bench.data.domains import load_domain
            from bench.data.splits import few_shot

            domain = load_domain(DOMAIN, self.data_dir)
            self._data = CheckData(shots=few_shot(domain.train, SHOTS, 0, DOMAIN), valid=domain.valid[:VALID_SIZE],
                                   test=domain.test[:TEST_SIZE], pool=domain.train)
        return self._data

    def chat_server_url(self) -> str:
        """The base URL of an OpenAI-compatible chat server on 127.0.0.1 serving tiny-random-llama,
        started on the first call and stopped by `close()`."""
        if self._server is None:
            from bench.lm import tiny_random_llama
            from bench.lm.openai_server import ChatServer, HFChatBackend

            folder = tiny_random_llama.build(self.tmp_path / "chat-model", tiny_random_llama.default_texts())
            self._server = ChatServer(HFChatBackend(str(folder), model_name=tiny_random_llama.NAME)).start()
        return self._server.base_url

    @contextlib.contextmanager
    def scratch_cache(self) -> Iterator[None]:
        """$BENCH_CACHE_DIR set to the scratch folder's `cache` while a method runs, then restored."""
        before = os.environ.get("BENCH_CACHE_DIR")
        os.environ["BENCH_CACHE_DIR"] = str(self.tmp_path / "cache")
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("BENCH_CACHE_DIR", None)
            else:
                os.environ["BENCH_CACHE_DIR"] = before

    def parameters(self, cls: type[registry.Method]) -> dict[str, str]:
        """The `--param` strings the checks build `cls` with: its `test_parameters`, and the chat
        server's URL as `base_url` when it `needs_chat_server`."""
        params = dict(cls.test_parameters)
        if cls.needs_chat_server:
            if "base_url" not in cls.parameters():
                raise AssertionError(f"{_label(cls)} sets needs_chat_server but has no base_url parameter "
                                     "to take the server's URL")
            params["base_url"] = self.chat_server_url()
        return params

    def fit_and_score(self, cls: type[registry.Method], *, seed: int = 0,
                      test: list[Sample] | None = None) -> tuple[registry.Method, list[float]]:
        """Build `cls` (through the registry, as the harness does) with its check parameters, fit it on
        the shots and score the test samples (or `test`), in a fresh artifact folder."""
        name, data = _registered_name(cls), self.data()
        params = self.parameters(cls)
        artifacts = self.tmp_path / "fits" / f"{_safe(name)}-{next(self._runs)}"
        with self.scratch_cache():
            method = registry.build(name, params, device="cpu")
            method.fit(data.shots, data.valid, registry.FitContext(
                seed=seed, train_plan=DOMAIN, train_domains=[DOMAIN], train_pool=data.pool,
                artifact_dir=artifacts, device="cpu"))
            return method, method.score(data.test if test is None else test)

    def reference(self, cls: type[registry.Method]) -> _Reference:
        """The first fit of `cls` (seed 0, the real test labels), made once; its failure is kept too,
        so that a method that cannot fit fails each check that needs the fit without refitting."""
        if cls not in self._references:
            try:
                method, scores = self.fit_and_score(cls)
                self._references[cls] = _Reference(config=method.config(), scores=list(scores))
            except Exception as exc:  # every check that needs the fit reports it
                self._references[cls] = _Reference(error=exc)
        found = self._references[cls]
        if found.error is not None:
            raise AssertionError(f"fitting and scoring failed: {_why(found.error)}") from found.error
        return found


def _label(cls: type) -> str:
    return getattr(cls, "name", "") or cls.__name__


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _why(exc: BaseException) -> str:
    if isinstance(exc, AssertionError):
        return str(exc) or "an assertion failed"
    return f"{type(exc).__name__}: {exc}"


def _registered_name(cls: type[registry.Method]) -> str:
    name = getattr(cls, "name", "")
    found = registry.available().get(name) if name else None
    if found is not cls:
        where = f"the name {name!r} finds {found.__module__}.{found.__qualname__}" if found else (
            f"no method is registered as {name!r}" if name else "it has no name")
        raise AssertionError(f"{cls.__module__}.{cls.__qualname__} is not registered: {where}; register it "
                             "through the `bench.methods` entry-point group (or @register in-process)")
    return name


@functools.cache
def _default_setup() -> CheckSetup:
    """The setup a check uses when none is passed: one per process, closed at exit."""
    setup = CheckSetup()
    atexit.register(setup.close)
    return setup


# -- the checks: check(cls, setup) raises an AssertionError saying what is wrong ---------------------------


def check_registered(cls: type[registry.Method], setup: CheckSetup) -> None:
    """Its name finds this class (`bench run --method NAME` reaches it) and it is a Method."""
    if not (isinstance(cls, type) and issubclass(cls, registry.Method)):
        raise AssertionError(f"{cls!r} is not a subclass of bench.run.registry.Method")
    _registered_name(cls)


def check_parameters_documented(cls: type[registry.Method], setup: CheckSetup) -> None:
    """Every constructor parameter has a line in a numpydoc "Parameters" section of the class docstring
    (what `bench list` prints beside it)."""
    missing = [name for name, line in registry.parameter_docs(cls).items() if not line.strip()]
    if missing:
        raise AssertionError(f"undocumented parameters: {', '.join(missing)}; add them to a 'Parameters' section "
                             "of the class docstring (`name : type`, then an indented line)")


def check_builds_from_defaults(cls: type[registry.Method], setup: CheckSetup) -> None:
    """`registry.build(name)` with no parameters gives a Method: every parameter has a usable default."""
    with setup.scratch_cache():
        built = registry.build(_registered_name(cls))
    if not isinstance(built, registry.Method):
        raise AssertionError(f"building it from its defaults gave {type(built).__name__}, not a Method")


def check_config_rebuilds(cls: type[registry.Method], setup: CheckSetup) -> None:
    """`from_config(name, method.config())` of a fitted method gives the same config (what a planned
    cell records is enough to rebuild it)."""
    config = setup.reference(cls).config
    with setup.scratch_cache():
        rebuilt = registry.from_config(_registered_name(cls), config).config()
    if rebuilt != config:
        raise AssertionError(f"its config does not rebuild it: from_config(config()).config() is {rebuilt!r}, "
                             f"config() was {config!r}")


def check_one_finite_score_per_sample(cls: type[registry.Method], setup: CheckSetup) -> None:
    """`score(samples)` returns one finite float per sample."""
    scores, test = setup.reference(cls).scores, setup.data().test
    if len(scores) != len(test):
        raise AssertionError(f"score gave {len(scores)} scores for {len(test)} samples")
    bad = [(i, s) for i, s in enumerate(scores) if not (isinstance(s, float) and math.isfinite(s))]
    if bad:
        raise AssertionError(f"every score must be a finite float; {len(bad)} are not, the first (index, value): "
                             f"{bad[:3]!r}")


def _differ(first: list[float], second: list[float]) -> str | None:
    """None when the two score lists agree within ATOL, else how they differ."""
    import numpy as np

    if len(first) != len(second):
        return f"{len(second)} scores instead of {len(first)}"
    if np.allclose(second, first, rtol=0, atol=ATOL):
        return None
    gaps = np.abs(np.asarray(second, dtype=float) - np.asarray(first, dtype=float))
    return f"{int((gaps > ATOL).sum())} of {len(first)} scores moved, by up to {float(np.nanmax(gaps)):.3g}"


def check_same_seed_same_scores(cls: type[registry.Method], setup: CheckSetup) -> None:
    """A second fit with the same seed, in a fresh artifact folder, gives the same scores."""
    reference = setup.reference(cls).scores
    _, again = setup.fit_and_score(cls, seed=0)
    if (diff := _differ(reference, list(again))) is not None:
        raise AssertionError(f"the same seed must give the same scores: {diff}")


def check_scores_ignore_test_labels(cls: type[registry.Method], setup: CheckSetup) -> None:
    """No score depends on a test label: with every test label reversed, the scores are the same."""
    reference, test = setup.reference(cls).scores, setup.data().test
    flipped = [dataclasses.replace(s, label=1 - s.label) for s in test]
    _, blind = setup.fit_and_score(cls, seed=0, test=flipped)
    if (diff := _differ(reference, list(blind))) is not None:
        raise AssertionError(f"a score must not depend on a test label: with the test labels reversed, {diff}")


_CHECKS = (check_registered, check_parameters_documented, check_builds_from_defaults, check_config_rebuilds,
           check_one_finite_score_per_sample, check_same_seed_same_scores, check_scores_ignore_test_labels)


def _named(name: str, check: Callable[[type[registry.Method], CheckSetup], None]) -> Check:
    @functools.wraps(check)
    def run(cls: type[registry.Method], setup: CheckSetup | None = None) -> None:
        try:
            check(cls, setup if setup is not None else _default_setup())
        except Exception as exc:
            raise AssertionError(f"{_label(cls)}: {name} failed: {_why(exc)}") from exc

    return run


def checks(cls: type[registry.Method]) -> Iterator[tuple[str, Check]]:
    """The checks that apply to `cls`, as (name, check) pairs; `check(cls, setup=None)` raises an
    AssertionError naming itself and why it failed (`setup`: a CheckSetup to share; None: this
    process's own, made on first use)."""
    for check in _CHECKS:
        yield check.__name__, _named(check.__name__, check)


def check_method(cls: type[registry.Method], *, data_dir: str | Path | None = None,
                 tmp_path: str | Path | None = None) -> None:
    """Run every check on `cls`, in order; the first that fails raises an AssertionError naming it and
    why. `data_dir`: the movie files (None: $BENCH_DATA_DIR, the user cache, the recbole wheel's copy);
    `tmp_path`: a scratch folder (None: a temporary one, removed afterwards)."""
    with CheckSetup(data_dir=data_dir, tmp_path=tmp_path) as setup:
        for _, check in checks(cls):
            check(cls, setup)


def parametrize_with_checks(classes: Iterable[type[registry.Method]]) -> Any:
    """A `pytest.mark.parametrize` decorator over ("method", "check") for every check of every class, with
    ids `method-name:check_name`; the test body is `check(method)` (or `check(method, setup)` with a
    CheckSetup fixture of the test's own)."""
    import pytest

    pairs = [(cls, name, check) for cls in classes for name, check in checks(cls)]
    return pytest.mark.parametrize(("method", "check"), [(cls, check) for cls, _, check in pairs],
                                   ids=[f"{_label(cls)}:{name}" for cls, name, _ in pairs])
