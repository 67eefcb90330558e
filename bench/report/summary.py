"""The answer on one page: per test set and K, the bar, the strongest featured method against it, the
strongest language model, and a one-word verdict.

Which configuration stands for a method is decided without looking at test AUC: each method at its
defaults (as `bench run --method M` would run it on a CPU), plus the configurations a user features
(`bench report --feature 'tallrec[preset=cpu]'`, or a TOML file with `feature = [...]`). Picking, among
several configurations of one method, the one that scored best on the test set would flatter it.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.report.aggregate import TableCell, Tables, resolution, strongest_baseline
from bench.report.costs import cost_column
from bench.report.labels import at_default, default_config, shared_settings, short_label
from bench.report.text import subset_name

RULE = ("Which configuration stands for a method never depends on test AUC: each method at its defaults (as "
        "`bench run --method M` runs it on a CPU), plus the configurations featured with `bench report --feature`.")


@dataclass(frozen=True)
class Feature:
    """`method[key=value, ...]`: the row of `method` with these settings and every other at its default."""

    method: str
    values: tuple[tuple[str, str], ...]

    def matches(self, cell: TableCell) -> bool:
        return cell.method == self.method and _configured_as(cell, dict(self.values))

    def __str__(self) -> str:
        from bench.run.identity import spelled

        return spelled(self.method, dict(self.values))


def parse_feature(spec: str) -> Feature:
    """`tallrec[preset=cpu, score=logodds]` -> Feature; a one-line error for anything else."""
    method, _, rest = spec.strip().partition("[")
    if rest and not rest.endswith("]") or not method:
        raise BenchError(f"--feature {spec!r}: write METHOD or METHOD[key=value, ...], e.g. 'tallrec[preset=cpu]'")
    values = []
    for part in filter(None, (p.strip() for p in rest[:-1].split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise BenchError(f"--feature {spec!r}: {part!r} is not key=value; e.g. 'tallrec[preset=cpu]'")
        values.append((key.strip(), value.strip()))
    return _known(spec, Feature(method.strip(), tuple(values)))


def _known(spec: str, feature: Feature) -> Feature:
    """A feature naming a method or parameter that does not exist would silently match no row."""
    from bench.run import registry

    methods = registry.available()
    if feature.method not in methods:
        raise BenchError(f"--feature {spec!r}: no method {feature.method!r}; `bench list` shows them: "
                         f"{', '.join(methods)}")
    cls = methods[feature.method]
    has_views = cls.views.__func__ is not registry.Method.views.__func__
    known = [*cls.parameters(), *(["selected_by"] if has_views else [])]  # selected_by: a view's tuning kind
    for key, _ in feature.values:
        if key not in known:
            raise BenchError(f"--feature {spec!r}: {feature.method} has no parameter {key!r}; it has: {', '.join(known)}")
    return feature


def read_features(specs: list[str]) -> list[Feature]:
    """Each spec is METHOD[...] or a TOML file holding `feature = ["METHOD[...]", ...]`."""
    found = []
    for spec in specs:
        if spec.endswith(".toml"):
            path = Path(spec)
            if not path.is_file():
                raise BenchError(f"--feature {spec}: no such file; pass a TOML file with feature = [\"tallrec[...]\"]")
            listed = tomllib.loads(path.read_text()).get("feature", [])
            if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
                raise BenchError(f"--feature {spec}: `feature` must be a list of strings like \"tallrec[preset=cpu]\"")
            found += [parse_feature(s) for s in listed]
        else:
            found.append(parse_feature(spec))
    return found


def _configured_as(cell: TableCell, values: dict[str, str]) -> bool:
    """The cell's settings are `values` and, for everything else, its method's CPU defaults (a setting
    a report row always names, such as an LM's model, at its default value)."""
    from bench.run import identity, registry

    cls, default = registry.available().get(cell.method), default_config(cell.method)
    if cls is None or default is None:
        return False
    config = cell.records[0]["config"]
    neutral = cls.key_neutral_defaults  # a record leaves these out at their neutral value (float32 on a CPU)
    if any(str(config.get(k, neutral.get(k))) != v for k, v in values.items()):
        return False
    for key, value in identity.label_config(cls, config).items():
        if key in values:
            continue
        if key not in cls.always_labelled or not at_default(cls, default, key, value):
            return False  # a setting away from its default that `values` does not name
    # A view is what its config says: an untuned model's view equals a direct run of that config, and a
    # tuned adapter's view names `selected_by`, a departure the loop refuses unless `values` names it.
    return True


def at_defaults(cell: TableCell) -> bool:
    """The cell's configuration is its method's default on a CPU (float32 for an LM, not chosen under another
    score kind)."""
    return _configured_as(cell, {})


def featured(cells: list[TableCell], features: list[Feature]) -> list[TableCell]:
    return [c for c in cells if c.records and (at_defaults(c) or any(f.matches(c) for f in features))]


def _delta(cell: TableCell | None) -> str:
    if cell is None or cell.comparison is None:
        return "—"
    r = cell.comparison.result
    return (f"{100 * r.difference:+.2f} [{100 * r.low:+.2f}, {100 * r.high:+.2f}], "
            f"p {cell.comparison.p_holm:.2g}")


def _name(cell: TableCell | None, costs: dict) -> str:
    """`label AUC (cost)`: the cost is fit plus scoring seconds per 1000 test samples, where measured."""
    if cell is None:
        return "—"
    seconds = costs.get((cell.test, cell.row, cell.shots))
    cost = ("" if seconds is None else " (<0.01 s)" if seconds < 0.01 else
            f" ({seconds:.0f} s)" if seconds >= 100 else f" ({seconds:.2g} s)")
    return f"{short_label(cell)} {100 * cell.mean:.2f}{cost}"


def summary_rows(tables: Tables, test_size: int | None, features: list[Feature], *, every_row: bool = False
                 ) -> list[dict[str, Any]]:
    """One dict per (test set, K) with a bar: what summary.md shows. `every_row`: consider every row, not
    only the featured ones (a run's own answer, where the user chose the rows)."""
    from bench.run import registry

    rows = []
    for domain in tables.domains():
        for k in tables.shots(test_size):
            cells = [c for c in tables.column(test_size, domain, domain, k) if c.records]
            bar = strongest_baseline(cells)
            if bar is None:
                continue
            candidates = cells if every_row else featured(cells, features)
            shown = [c for c in candidates if c is not bar and c.comparison is not None]
            best = max(shown, key=lambda c: (c.mean, c.row), default=None)
            lms = [c for c in shown if registry.tag(c.method, "family") == "language-model"]
            best_lm = max(lms, key=lambda c: (c.mean, c.row), default=None)
            beaten = [c for c in shown if c.comparison.significant and c.comparison.result.difference > 0]
            rows.append({"domain": domain, "k": k, "bar": bar, "best": best, "best_lm": best_lm,
                         "verdict": "beaten" if beaten else "holds", "beaten": beaten,
                         "resolution": resolution(cells), "users": bar.n_users, "samples": bar.n_test})
    return rows


def summary_markdown(tables: Tables, test_size: int | None, features: list[Feature]) -> str:
    """The table, and under it what it means and the rule that chose the rows."""
    rows = summary_rows(tables, test_size, features)
    if not rows:
        return ""
    costs = cost_column(tables, test_size)
    lines = [f"## The answer ({subset_name(test_size)})", "",
             "Does anything beat the bar, the strongest training-free method of each column? AUC x 100, and in "
             "brackets the cost: fit plus scoring seconds per 1000 test samples on the machine that ran it; Δ to "
             "the bar with its 95% interval by user (and seed) and Holm-corrected p.", "",
             "| test set | K | resolution | bar | strongest featured | Δ, 95% CI, p | strongest LM | Δ, 95% CI, p "
             "| verdict |", "|---" * 9 + "|"]
    for r in rows:
        users = f"{r['users']} users" if r["users"] else "users not recorded"
        res = "—" if math.isnan(r["resolution"]) else f"{100 * r['resolution']:.1f}"
        lines.append(f"| {r['domain']} ({r['samples']} samples, {users}) | {r['k']} | {res} | "
                     f"{_name(r['bar'], costs)} | {_name(r['best'], costs)} | {_delta(r['best'])} | "
                     f"{_name(r['best_lm'], costs)} | {_delta(r['best_lm'])} | "
                     f"**{r['verdict']}** |")
    beaten: dict[str, list[str]] = {}
    for r in rows:
        for c in r["beaten"]:
            beaten.setdefault(short_label(c), []).append(f"{r['domain']} K={r['k']}")
    shown = [c for r in rows for c in (r["bar"], r["best"], r["best_lm"]) if c is not None]
    # a value no record holds (preset=cpuu) would otherwise leave the featured row out without a word
    cells = [c for (size, *_), c in tables.cells.items() if size == test_size and c.records]
    unmatched = [str(f) for f in features if not any(f.matches(c) for c in cells)]
    lines += ["", "**beaten**: a featured method is significantly above the bar; **holds**: none is. Resolution: "
              "the median, over the column's comparisons, of the smallest difference the paired test would detect "
              "with 80% power (smaller differences are detected with under 80% power). " + RULE + " " + shared_settings(shown),
              "", "Significantly above the bar: " + ("; ".join(f"{m} ({', '.join(w)})" for m, w in beaten.items())
                                                     if beaten else "nothing") + ".", ""]
    if unmatched:
        lines += [f"Featured, but no cell here is configured so: {', '.join(unmatched)}.", ""]
    return "\n".join(lines)


def answer_line(tables: Tables, test_size: int | None, features: list[Feature], *, every_row: bool = False) -> str:
    """One line for the end of `bench run`: per test set, the bar and what beats it significantly."""
    parts = []
    for domain in tables.domains():
        rows = [r for r in summary_rows(tables, test_size, features, every_row=every_row) if r["domain"] == domain]
        if not rows:
            continue
        bars = "/".join(sorted({r["bar"].row for r in rows}))
        beaten = sorted({short_label(c) for r in rows for c in r["beaten"]})
        parts.append(f"{domain}: the bar is {bars}; " + (f"beaten by {', '.join(beaten)}" if beaten else
                                                          "nothing " + ("" if every_row else "featured ") + "beats it significantly")
                     + _unnoticed([r["resolution"] for r in rows]))
    return f"Answer ({subset_name(test_size)}): " + "; ".join(parts) + "." if parts else ""


def _unnoticed(resolutions: list[float]) -> str:
    """What a test set cannot see: the range of its columns' resolutions (each the median over the
    column's comparisons), as a clause of the answer."""
    known = sorted(100 * r for r in resolutions if not math.isnan(r))
    if not known:
        return ""
    span = f"{known[0]:.1f}" if f"{known[0]:.1f}" == f"{known[-1]:.1f}" else f"{known[0]:.1f}-{known[-1]:.1f}"
    return f" (resolution {span} points: smaller differences often go unnoticed)"
