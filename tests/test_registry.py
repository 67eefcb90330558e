"""Methods register by name, third-party ones through the `bench.methods` entry-point group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.run import registry

PLUGIN = '''
from bench.run.registry import Method

class ConstantScore(Method):
    """A third-party method: the same score for everything."""

    def __init__(self, *, value: float = 0.25) -> None:
        self.value = value

    def score(self, samples):
        return [self.value] * len(samples)
'''


def make_plugin(site: Path) -> Path:
    """An installed distribution (dist-info with an entry point) providing `constant`."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "constant_plugin.py").write_text(PLUGIN)
    info = site / "constant_plugin-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: constant-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[bench.methods]\nconstant = constant_plugin:ConstantScore\n")
    return site


def test_builtin_baselines_are_registered():
    names = registry.available()
    assert {"random", "like-ratio", "popularity"} <= set(names)


def test_bench_list_shows_third_party_method_with_parameters(tmp_path):
    site = make_plugin(tmp_path / "site")
    done = subprocess.run([sys.executable, "-m", "bench.cli", "list"], capture_output=True, text=True,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "constant: A third-party method" in done.stdout
    assert "value = 0.25" in done.stdout
    threads = registry.parameter_docs(registry.get("gru4rec"))["threads"]  # gru4rec's line: description, then note
    assert f"threads = 1   {threads}   (operational: recorded, not part of the cell key)" in done.stdout


def test_bench_list_prints_a_parameter_s_line_and_the_tags(capsys):
    """Every built-in parameter has a line (bench.testing's check_parameters_documented, run on each in
    test_conformance.py); bench list prints it as one line beside the default."""
    from bench.cli import main

    prior = registry.parameter_docs(registry.get("popularity"))["prior"]
    assert prior.startswith("Smoothing pseudo-count") and "\n" not in prior
    main(["list"])
    out = capsys.readouterr().out
    assert f"    prior = 2.0   {prior}\n" in out
    assert "untuned=zero-shot, presets=paper/fast/cpu" in out  # tallrec's tags name its presets


def test_parameter_docs_read_numpydoc_sections_through_the_mro():
    class Base(registry.Method):
        """A toy base.

        Parameters
        ----------
        shared : int
            Documented once, on the base,
            over two lines.
        mine : str
            The base's word, which the subclass overrides.
        """

    class Toy(Base):
        __doc__ = """A toy method: its own entries first.

        Parameters
        ----------
        mine : str
            The subclass's word.

            A second paragraph, left out.
        Notes
        -----
        documented : float
            Not a parameter entry: the section ended.""" + "\n    Appended text, as methods/sequential.py does.\n"

        def __init__(self, *, shared: int = 1, mine: str = "a", documented: float = 0.5, bare: bool = False):
            pass

        def score(self, samples):
            return [0.0] * len(samples)

    assert registry.parameter_docs(Toy) == {"shared": "Documented once, on the base, over two lines.",
                                            "mine": "The subclass's word.", "documented": "", "bare": ""}


def test_overrides_are_converted_to_parameter_types():
    method = registry.build("popularity", {"prior": "5"})
    assert method.config() == {"prior": 5.0}
    with pytest.raises(BenchError, match="has no parameter 'nope'"):
        registry.build("popularity", {"nope": "1"})
    with pytest.raises(BenchError, match="unknown method 'nope'"):
        registry.get("nope")


@pytest.mark.parametrize("prior", ["0", "-1", "nan", "inf"])
def test_popularity_refuses_a_prior_that_would_divide_by_zero_or_is_not_a_number(prior):
    with pytest.raises(BenchError, match=r"popularity: bad prior=.*a number > 0 \(--param popularity.prior=VALUE\)"):
        registry.build("popularity", {"prior": prior})


def test_check_parameters_refuses_bools_as_counts_and_nan_as_numbers():
    assert registry.is_count(3, 1) and not registry.is_count(True, 0) and not registry.is_count(2.0, 1)
    assert registry.is_positive(0.5) and not registry.is_positive(float("nan")) and not registry.is_positive(0)
    registry.check_parameters("toy", [("a", 1, True, "anything")])
    with pytest.raises(BenchError, match=r"^toy: bad b=-1; set b to an integer >= 0 \(--param toy.b=VALUE\)$"):
        registry.check_parameters("toy", [("a", 1, True, "x"), ("b", -1, False, "an integer >= 0")])


def test_keys_and_labels_come_from_tags_whoever_wrote_the_method():
    """bench.run.identity keys and labels any method from its tags: operational and key-neutral values
    stay out of the key, a row names its preset and only what departs from it, and the always-labelled
    parameters come first (one missing from an older record at its key-neutral value)."""
    from bench.run.identity import key_config, label_config, row_label

    class Recipe(registry.Method):
        always_labelled = ("size", "units")
        operational_parameters = frozenset({"threads"})
        key_neutral_defaults = {"units": "cm", "extra": 0}
        presets = {"small": {"size": 1, "rate": 0.1}, "large": {"size": 9, "rate": 0.5}}

        def __init__(self, *, preset: str = "small", size: int = 1, rate: float = 0.1, units: str = "cm",
                     extra: int = 0, threads: int = 2) -> None:
            self.preset, self.size, self.rate, self.units, self.extra, self.threads = (
                preset, size, rate, units, extra, threads)

        def score(self, samples):
            return [0.0] * len(samples)

    Recipe.name = "recipe"
    assert key_config(Recipe(threads=8)) == {"preset": "small", "size": 1, "rate": 0.1}
    assert key_config(Recipe(extra=3))["extra"] == 3
    assert row_label(Recipe, {"preset": "large", "size": 9, "rate": 0.5}) == "recipe[size=9, units=cm, preset=large]"
    assert label_config(Recipe, {"preset": "large", "size": 9, "rate": 0.1, "threads": 4}) == {
        "size": 9, "units": "cm", "preset": "large", "rate": 0.1}  # rate departs from the large preset
    assert row_label(Recipe, {"preset": "small", "size": 1, "units": "in", "extra": 0}) == "recipe[size=1, units=in]"
