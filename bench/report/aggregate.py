"""Aggregation: records -> cells of tables, with each cell's statistics. A pure function of the records.

A cell is one (row, train, test, K, test subset): all seeds' records of one method configuration. Its
statistics (bench.report.statistics) resample users and seeds: the 95% interval of its mean over runs,
UAUC where users have both labels, and the paired comparison with the column's strongest
training-free baseline, Holm-corrected per column. Records with different test subsets never mix.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.data.cards import domain_order
from bench.errors import BenchError
from bench.report.statistics import (
    N_RESAMPLES,
    PairedDifference,
    ResampleBank,
    detectable_difference,
    holm,
    resamples_for,
    resamples_rule,
    uauc,
)
from bench.run.store import record_identity

ALPHA = 0.05
STATISTICS_TEXT = (
    "95% intervals resample test *users* (a cluster bootstrap: samples of one user are not independent) "
    f"and, for a mean over seeds, the seeds too (a two-level percentile bootstrap, {N_RESAMPLES} resamples; "
    "the seed draw rescaled by sqrt(n/(n-1)) so that n seeds spread their mean by the usual s/sqrt(n)). "
    "Tests: a paired cluster bootstrap of the difference of mean AUCs against the column's strongest "
    "training-free baseline (the same users drawn for both), two-sided, Holm-corrected over the column, "
    f"p < {ALPHA}, with {resamples_rule(ALPHA)}. A method whose seeds give identical scores counts as one run. "
    "Each cell's resampled AUCs are computed once and shared by all its comparisons: one stream of user "
    "draws per test set, one stream of seed draws per cell. Resolution: the smallest true difference the "
    "paired test would detect with 80% power at the column's strictest Holm level (0.05 / tests), "
    "(z_{1-0.025/m} + z_{0.8}) x the bootstrap standard error of the paired difference; a column's resolution "
    "is the median over its comparisons.")


def is_training_free(method: str) -> bool:
    """Whether the method says it learns nothing (its `training_free` tag): every other method is
    tested against the strongest such cell of its column, the bar (does the LLM beat that, really?)."""
    from bench.run import registry

    return bool(registry.tag(method, "training_free", False))


def family_rank(method: str) -> int:
    """The place of the method's family (its `family` tag) in registry.FAMILIES; unknown ones last."""
    from bench.run import registry

    names = [name for name, _ in registry.FAMILIES]
    found = registry.tag(method, "family", "other")
    return names.index(found) if found in names else len(names)


# ---------------------------------------------------------------------------------------------
# Aggregation: records -> cells


@dataclass
class Comparison:
    """A cell's paired comparison with another cell on the same samples (the column's strongest
    training-free baseline in Table 1, the untuned model in the tuning-gain table)."""

    baseline: str
    result: PairedDifference
    p_holm: float = math.nan
    resolution: float = math.nan  # the smallest true difference this test detects with 80% power

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA


@dataclass
class TableCell:
    """One (row, train, test, K) of a table: all seeds' records of one method configuration."""

    row: str
    method: str
    train: str
    test: str
    shots: int
    test_size: int | None
    records: list[dict[str, Any]] = field(default_factory=list)  # status ok, sorted by seed
    not_applicable: bool = False
    interval: tuple[float, float] | None = None  # 95% interval of the mean over runs (users x seeds)
    uauc: tuple[float, int] | None = None  # mean UAUC over runs, and the users it averages over
    comparison: Comparison | None = None

    @functools.cached_property
    def runs(self) -> list[dict[str, Any]]:
        """The records that differ: seeds whose scores are identical (a deterministic method) are one run.
        Computed once, when first read: `aggregate` has filled and sorted `records` by then."""
        distinct: dict[tuple, dict[str, Any]] = {}
        for r in self.records:
            distinct.setdefault(_scored(r), r)
        return list(distinct.values())

    @property
    def aucs(self) -> list[float]:
        return [r["auc"] for r in self.runs]

    @property
    def mean(self) -> float:
        return float(np.mean(self.aucs)) if self.records else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.aucs, ddof=1)) if len(self.runs) > 1 else math.nan

    @property
    def seeds(self) -> list[int]:
        return [r["seed"] for r in self.records]

    @property
    def n_test(self) -> int | None:
        return self.records[0]["n_test"] if self.records else None

    @property
    def users(self) -> list[str] | None:
        """Whose each test sample is; None for records written before users were stored."""
        return self.records[0].get("users") if self.records else None

    @property
    def n_users(self) -> int | None:
        return len(set(self.users)) if self.users else None

    @property
    def name(self) -> str:
        """The cell's identity in the report's ResampleBank (its seed draws are seeded by it)."""
        return f"{self.test_size}|{self.train}|{self.test}|{self.shots}|{self.row}"


def row_labels(records: list[dict[str, Any]]) -> dict[str, str]:
    """Record key -> row label: one row per method configuration, named by what is not at its default
    and, for LM methods, always by model, preset, precision and score kind (`identity.row_label`)."""
    from bench.run import identity, registry

    methods = registry.available()

    def label(r: dict[str, Any]) -> str:
        if r["method"] in methods:
            return identity.row_label(methods[r["method"]], r["config"])
        shown = ", ".join(f"{k}={v}" for k, v in sorted(r["config"].items()))
        return f"{r['method']}[{shown}]" if shown else r["method"]

    return {r["key"]: label(r) for r in records}


def _row_sort_key(row: str) -> tuple:
    """Families in registry.FAMILIES order; within one, by method name, each method's rows together,
    its defaults first."""
    method = row.split("[")[0]
    return family_rank(method), method, row


@dataclass
class Tables:
    """Every cell of the store, grouped by test subset (records with different test_size never mix)."""

    cells: dict[tuple, TableCell]  # (test_size, train, test, shots, row) -> cell
    audits: dict[str, dict] = field(default_factory=dict)  # test domain -> its audit facts, where stored
    bank: ResampleBank = field(default_factory=ResampleBank)  # every cell's resampled AUCs, computed once
    labels: dict = field(default_factory=dict)  # test size -> (row -> display label, caption text), once

    # The cells never change once aggregated, so the views below are computed once: reports ask for
    # them per column and row, and a scan of every cell each time grows with the square of the store.
    @functools.cached_property
    def _columns(self) -> dict[tuple, list[TableCell]]:
        found: dict[tuple, list[TableCell]] = {}
        for k, c in self.cells.items():
            found.setdefault(k[:4], []).append(c)
        return {k: sorted(cs, key=lambda c: c.row) for k, cs in found.items()}

    @functools.cached_property
    def _rows(self) -> dict[int | None, list[str]]:
        found: dict[int | None, set[str]] = {}
        for k in self.cells:
            found.setdefault(k[0], set()).add(k[4])
        return {size: sorted(rows, key=_row_sort_key) for size, rows in found.items()}

    @functools.cached_property
    def _shots(self) -> dict[int | None, list[int]]:
        found: dict[int | None, set[int]] = {}
        for k in self.cells:
            found.setdefault(k[0], set()).add(k[3])
        return {size: sorted(shots) for size, shots in found.items()}

    def test_sizes(self) -> list[int | None]:
        return sorted(self._rows, key=lambda s: (s is not None, s or 0))

    def rows(self, test_size: int | None) -> list[str]:
        return list(self._rows.get(test_size, []))

    @functools.cached_property
    def _domains(self) -> list[str]:
        return domain_order(k[2] for k in self.cells)

    def domains(self) -> list[str]:
        """The test domains the records cover, built-ins first (movie, book, movie-temporal, movie-loo), then the rest."""
        return list(self._domains)

    def shots(self, test_size: int | None) -> list[int]:
        return list(self._shots.get(test_size, []))

    def get(self, test_size, train, test, shots, row) -> TableCell | None:
        return self.cells.get((test_size, train, test, shots, row))

    def column(self, test_size, train, test, shots) -> list[TableCell]:
        """The column's cells by row name: never in the order the store lists its files."""
        return list(self._columns.get((test_size, train, test, shots), []))

    def has_cross_domain(self, test_size) -> bool:
        return any(k[1] != k[2] for k in self.cells if k[0] == test_size)


def with_views(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records and the views their methods derive from them (`Method.views`: an LM record under
    the other score kind), less views of a cell the store holds as a record of its own. A view has no
    views of its own, so records that already hold their views come back unchanged."""
    from bench.run import registry

    methods = registry.available()
    held = {record_identity(r) for r in records}
    views = [v for r in records if r["method"] in methods and not r.get("view_of")
             for v in methods[r["method"]].views(r)]
    return records + [v for v in views if record_identity(v) not in held]


def aggregate(records: list[dict[str, Any]], *, with_statistics: bool = True) -> Tables:
    records = with_views(records)
    labels = row_labels(records)
    cells: dict[tuple, TableCell] = {}
    for r in records:
        row = labels[r["key"]]
        k = (r.get("test_size"), r["train"], r["test"], r["shots"], row)
        cell = cells.setdefault(k, TableCell(row, r["method"], r["train"], r["test"], r["shots"], r.get("test_size")))
        if r["status"] == "ok":
            cell.records.append(r)
        else:
            cell.not_applicable = True
    for cell in cells.values():
        cell.records.sort(key=lambda r: (r["seed"], r["key"]))
        _one_record_per_seed(cell)
        if cell.records:
            cell.not_applicable = False  # some seed ran: the cell is applicable
    tables = Tables(cells)
    if with_statistics:
        _add_statistics(tables)
    return tables


def _scored(record: dict[str, Any]) -> tuple:
    """What a record scored and how: two records alike here are one run."""
    return tuple(record["sample_ids"]), tuple(record["scores"])


def _one_record_per_seed(cell: TableCell) -> None:
    """A seed is one draw of shots: two records of it in one cell (the same configuration run again on
    regenerated data, whose fingerprints give it a key of its own, or under an operational setting the
    row does not show) would count that draw twice in the mean, its interval and its test. Two that
    scored the same samples alike are one run stored twice: keep one. Two that differ are refused."""
    kept: list[dict[str, Any]] = []
    for r in cell.records:  # sorted by seed: a seed's records are adjacent
        first = kept[-1] if kept and kept[-1]["seed"] == r["seed"] else None
        if first is None:
            kept.append(r)
        elif _scored(first) != _scored(r):
            why = "their data fingerprints differ" if first.get("data") != r.get("data") else "their configs differ"
            raise BenchError(
                f"row {cell.row!r}, {cell.train}->{cell.test} K={cell.shots}: seed {r['seed']} is stored twice "
                f"with different scores (records/{first['method']}/{first['key']}.json and "
                f"records/{r['method']}/{r['key']}.json; {why}): move the stale one out of the store, or report "
                f"each data version from its own --store")
    cell.records = kept


def strongest_baseline(cells: list[TableCell]) -> TableCell | None:
    """The column's training-free cell with the highest mean: the bar every other method must clear.
    Only a cell whose runs scored the same samples can be one (the tests pair on them), so the tables'
    † and the tests always name the same cell."""
    candidates = [c for c in cells if c.records and is_training_free(c.method) and scored_alike(c)]
    return max(candidates, key=lambda c: (c.mean, c.row)) if candidates else None


def scored_alike(cell: TableCell) -> bool:
    """All of a cell's runs scored the same test samples (a paired or pooled statistic needs that)."""
    return len({tuple(r["sample_ids"]) for r in cell.runs}) == 1


def bank_cell(bank: ResampleBank, cell: TableCell) -> str:
    """Make `cell` known to `bank` (once); its name there."""
    first = cell.runs[0]
    bank.add(cell.name, tuple(first["sample_ids"]), first["labels"], [r["scores"] for r in cell.runs], cell.users)
    return cell.name


def compared(pairs: list[tuple[TableCell, TableCell]], bank: ResampleBank) -> list[Comparison]:
    """Each cell against its base cell on the same samples (paired cluster bootstrap over users and
    runs), Holm-corrected over the list, each with its resolution at the list's strictest Holm level."""
    n = resamples_for(len(pairs), ALPHA)
    comparisons = [Comparison(base.row, bank.paired(bank_cell(bank, cell), bank_cell(bank, base), n_resamples=n))
                   for cell, base in pairs]
    for comparison, p in zip(comparisons, holm([c.result.p_value for c in comparisons]), strict=True):
        comparison.p_holm = p
        comparison.resolution = detectable_difference(comparison.result.standard_error, ALPHA / len(pairs))
    return comparisons


def resolution(cells: list[TableCell]) -> float:
    """The median resolution over the cells' comparisons (nan where none was compared)."""
    found = [c.comparison.resolution for c in cells if c.comparison is not None]
    return float(np.median(found)) if found else math.nan


def _add_statistics(tables: Tables) -> None:
    from tqdm import tqdm

    columns = sorted({k[:4] for k in tables.cells}, key=str)
    for column in tqdm(columns, desc="statistics", unit="column", disable=None, leave=False):
        cells = [c for c in tables.column(*column) if c.records and scored_alike(c)]
        for cell in cells:
            first = cell.runs[0]
            scores = [r["scores"] for r in cell.runs]
            cell.interval = tables.bank.interval(bank_cell(tables.bank, cell))
            if cell.users:
                per_run = [uauc(first["labels"], s, cell.users) for s in scores]
                cell.uauc = (float(np.mean([u for u, _ in per_run])), per_run[0][1])
        base = strongest_baseline(cells)
        if base is None:
            continue
        tested = [c for c in cells if c is not base and c.runs[0]["sample_ids"] == base.runs[0]["sample_ids"]]
        for cell, comparison in zip(tested, compared([(c, base) for c in tested], tables.bank), strict=True):
            cell.comparison = comparison
