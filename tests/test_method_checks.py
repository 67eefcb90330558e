"""bench.testing is public: a plugin runs the conformance checks on its own method, and a method that
breaks the contract fails the check it breaks, by name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.run.registry import Method, register
from bench.testing import check_method, checks, parametrize_with_checks


@register("test-example-liked-share")
class LikedShare(Method):
    """An out-of-tree method, defined as a plugin defines one: the smoothed share of liked history items.

    Parameters
    ----------
    prior : float
        Pseudo-count of a half-liked history, so that an empty history scores 0.5.
    """

    training_free = True
    family = "training-free"
    reads = frozenset({"sample"})
    test_parameters = {"prior": "2"}

    def __init__(self, *, prior: float = 1.0) -> None:
        self.prior = prior

    def score(self, samples):
        return [(sum(h.liked for h in s.history) + self.prior / 2) / (len(s.history) + self.prior) for s in samples]


@register("test-example-reads-labels")
class ReadsLabels(LikedShare):
    """A broken method: its scores read the test label (a leak the checks must catch)."""

    def score(self, samples):
        return [value + 0.01 * s.label for value, s in zip(super().score(samples), samples, strict=True)]


@register("test-example-undocumented")
class Undocumented(LikedShare):
    """Adds a parameter and forgets its "Parameters" line."""

    def __init__(self, *, prior: float = 1.0, decay: float = 0.5) -> None:
        super().__init__(prior=prior)
        self.decay = decay


class Unregistered(LikedShare):
    """Subclasses LikedShare but registers under no name of its own."""


def test_an_out_of_tree_method_passes_every_check(data_dir, tmp_path):
    check_method(LikedShare, data_dir=data_dir, tmp_path=tmp_path)


def test_a_method_whose_scores_read_the_label_fails_that_check_by_name(data_dir, tmp_path):
    with pytest.raises(AssertionError) as failed:
        check_method(ReadsLabels, data_dir=data_dir, tmp_path=tmp_path)
    message = str(failed.value)
    assert message.startswith("test-example-reads-labels: check_scores_ignore_test_labels failed: "
                              "a score must not depend on a test label"), message
    assert "24 of 24 scores moved, by up to 0.01" in message


def test_a_method_reached_by_no_name_fails_the_registration_check():
    with pytest.raises(AssertionError, match=r"check_registered failed: .*Unregistered is not registered: "
                                             r"the name 'test-example-liked-share' finds .*LikedShare"):
        check_method(Unregistered)


def test_an_undocumented_parameter_fails_by_name():
    with pytest.raises(AssertionError, match=r"^test-example-undocumented: check_parameters_documented failed: "
                                             r"undocumented parameters: decay; add them"):
        dict(checks(Undocumented))["check_parameters_documented"](Undocumented)


def test_the_readme_example_passes_every_check(data_dir, tmp_path, monkeypatch):
    """The README's "Adding a method" example is a working plugin, not prose that drifts."""
    from pathlib import Path

    from bench.run import registry

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Adding a method"):]
    code = section[section.index("```python\n") + 10 : section.index("```\n", section.index("```python\n") + 10)]
    registry.available()  # the built-in methods are loaded into the registry the copy is made from
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # its name leaves with the test
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    check_method(namespace["HistoryLength"], data_dir=data_dir, tmp_path=tmp_path)
    assert registry.parameter_docs(namespace["HistoryLength"]) == {"scale": "Multiplies the history length."}


def test_checks_are_named_pairs_and_the_pytest_helper_gives_readable_ids():
    names = [name for name, _ in checks(LikedShare)]
    assert names == ["check_registered", "check_parameters_documented", "check_builds_from_defaults", "check_config_rebuilds",
                     "check_one_finite_score_per_sample", "check_same_seed_same_scores",
                     "check_scores_ignore_test_labels"]
    mark = parametrize_with_checks([LikedShare, ReadsLabels]).mark
    assert mark.args[0] == ("method", "check")
    assert mark.kwargs["ids"][:2] == ["test-example-liked-share:check_registered",
                                      "test-example-liked-share:check_parameters_documented"]
    assert mark.kwargs["ids"][-1] == "test-example-reads-labels:check_scores_ignore_test_labels"


@parametrize_with_checks([LikedShare])
def test_a_plugin_runs_the_checks_as_its_own_tests(method, check, data_dir):
    check(method)  # what a plugin's test file holds (README, "Adding a method"); data from $BENCH_DATA_DIR


def test_bench_testing_imports_without_pytest():
    code = "import sys; sys.modules['pytest'] = None; import bench.testing; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
