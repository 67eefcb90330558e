"""Reports from synthetic records: tables, marks, missing cells, subsets, figures, summary."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from bench.errors import BenchError
from bench.report import render as report
from bench.run.store import ResultStore, cell_key

RNG = np.random.default_rng(0)
LABELS = {d: RNG.integers(0, 2, n).tolist() for d, n in (("movie", 300), ("book", 400))}
#: As on the real data: movie samples come 20 to a user, book samples one to a user.
USERS = {"movie": [f"u{i // 20}" for i in range(300)], "book": [f"book-{i}" for i in range(400)]}


def make_record(method, train, test, shots, seed, *, signal=0.0, test_size=None, status="ok", config=None,
                deterministic=False):
    labels = LABELS[test]
    draw = (method, train, test, shots, 0 if deterministic else seed)  # a deterministic method: same scores
    rng = np.random.default_rng(zlib.crc32(repr(draw).encode()))
    scores = (np.asarray(labels) * signal + rng.random(len(labels))).tolist()
    identity = dict(method=method, config=config or {}, train=train, test=test, shots=shots, seed=seed,
                    test_size=test_size)
    record = dict(identity, key=cell_key(identity), status=status, n_test=len(labels))
    if status == "ok":
        from sklearn.metrics import roc_auc_score

        record.update(auc=float(roc_auc_score(labels, scores)), sample_ids=[f"{test}-{i}" for i in range(len(labels))],
                      labels=labels, users=USERS[test], scores=scores)
    else:
        record["auc"] = None
    return record


@pytest.fixture(scope="module")
def records():
    recs = []
    for d in ("movie", "book"):
        for k in (16, 64):
            for seed in (0, 1, 2):
                recs.append(make_record("like-ratio", d, d, k, seed, signal=0.4))
                recs.append(make_record("random", d, d, k, seed))
    for k in (16, 64):  # tallrec: movie only, strong, 2 seeds at K=16, a single seed at K=64
        for seed in ((0, 1) if k == 16 else (0,)):
            recs.append(make_record("tallrec", "movie", "movie", k, seed, signal=0.8))
    recs.append(make_record("popularity", "book", "movie", 16, 0, status="not-applicable"))
    recs += [make_record("popularity", "movie", "movie", 16, seed, signal=0.2, deterministic=True) for seed in (0, 1, 2)]
    recs.append(make_record("like-ratio", "movie", "book", 16, 0, signal=0.4))
    recs.append(make_record("like-ratio", "movie", "movie", 16, 0, signal=0.4, test_size=100))
    return recs


@pytest.fixture(scope="module")
def tables(records):
    return report.aggregate(records)


def _table_lines(md: str) -> dict[str, str]:
    return {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}


def test_table1_marks_best_baseline_and_significance(tables):
    md = report.table1_markdown(tables, None, report.paper_rows())
    lines = _table_lines(md)
    tallrec = lines["tallrec"]  # its precision, float32 even where the record has none, is in the caption
    assert "Settings every row of a method shares: tallrec: precision=float32." in md
    assert "**" in tallrec.split(" | ")[1] and "↑" in tallrec.split(" | ")[1]  # best and significantly higher
    assert "(n=2)" in tallrec.split(" | ")[1]
    assert "(1 run)" in tallrec.split(" | ")[2]
    assert tallrec.split(" | ")[3] == "not run"  # no book results: said, not invented
    assert "67.24" not in tallrec  # the paper's numbers are never on a row computed here
    assert "67.24" in lines["paper: TALLRec (LLaMA-7B)"] and "60.39" in lines["paper: TALLRec (LLaMA-7B)"]
    assert "†" in lines["like-ratio"].split(" | ")[1]
    assert "↓" in lines["random"].split(" | ")[1]
    assert "paper: DROS" in lines
    assert "cluster bootstrap" in md and "Holm" in md and "from 15 users" in md


def test_seeds_with_identical_scores_are_one_run(tables):
    cell = tables.get(None, "movie", "movie", 16, "popularity")
    assert len(cell.records) == 3 and len(cell.runs) == 1
    assert report.cell_text(cell).endswith("(1 run)")


def test_cell_statistics_resample_users(tables):
    cell = tables.get(None, "movie", "movie", 16, "tallrec[precision=float32]")
    assert cell.comparison.baseline == "like-ratio"
    assert cell.comparison.result.n_users == 15
    assert cell.comparison.result.p_value < 0.01 and cell.comparison.result.low > 0
    low, high = cell.interval
    assert low < cell.mean < high
    value, users = cell.uauc
    assert users == 15 and 0.5 < value <= 1
    assert tables.get(None, "book", "book", 16, "like-ratio").uauc == (pytest.approx(np.nan, nan_ok=True), 0)


def test_missing_and_not_applicable_cells_never_crash(tables):
    text = report.cross_domain_markdown(tables, None)
    assert "| popularity | 33." not in text
    row = next(line for line in text.splitlines() if line.startswith("| popularity"))
    assert "n/a" in row and "not run" in row
    assert report.cell_text(None) == "not run"


def test_test_subsets_get_their_own_named_table(tables):
    assert tables.test_sizes() == [None, 100]
    md = report.table1_markdown(tables, 100, report.paper_rows())
    assert "fixed 100-sample test subset" in md
    assert "tallrec" not in md.split("|---")[-1]
    assert "paper:" not in md.split("|---")[-1]  # the paper's full-set numbers never sit beside a subset
    header = next(line for line in md.splitlines() if line.startswith("| method"))
    assert "| movie K=16 |" in header and "| book K=" not in header  # the subset was run on movie only


def test_latex_is_booktabs_and_escaped(tables):
    tex = report.table1_latex(tables, None, report.paper_rows())
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "\\textbf{" in tex and "$^{\\uparrow}$" in tex and "$\\pm$" in tex
    assert "±" not in tex and "†" not in tex


def test_the_answer_says_per_domain_whether_anything_beats_the_training_free_bar(tables):
    text = report.answer_markdown(tables, None)
    movie = next(line for line in text.splitlines() if line.startswith("- **movie**"))
    book = next(line for line in text.splitlines() if line.startswith("- **book**"))
    assert "300 samples from 15 users" in movie and "400 samples, one per user" in book
    from bench.report.summary import summary_rows

    verdicts = {(r["domain"], r["k"]): r["verdict"] for r in summary_rows(tables, None, [])}
    assert verdicts == {("movie", 16): "beaten", ("movie", 64): "beaten", ("book", 16): "holds", ("book", 64): "holds"}
    k16 = next(line for line in text.splitlines() if line.strip().startswith("- K=16: the bar is like-ratio"))
    assert "Significantly above it: tallrec (" in k16
    gaps = report.gaps_markdown(tables, None)
    assert "tallrec[precision=float32]: no in-domain result for book K=16, book K=64" in gaps
    assert "tallrec[precision=float32]: a single seed for movie K=64" in gaps


def test_write_reports_renders_every_file(records, tmp_path: Path):
    store = ResultStore(tmp_path / "store")
    for r in records:
        store.write(r)
    written = {p.name for p in report.write_reports(store, tmp_path / "reports")}
    assert {"report.md", "tables.tex", "auc.md", "auc_vs_k.png", "auc_vs_k.pdf", "cross_domain.png",
            "cross_domain.pdf", "auc_vs_k_subset100.png"} <= written
    assert (tmp_path / "reports" / "auc_vs_k.png").read_bytes()[:4] == b"\x89PNG"


def test_an_empty_store_gives_a_report_that_says_so(tmp_path: Path):
    written = report.write_reports(ResultStore(tmp_path / "empty"), tmp_path / "out", figures=False)
    assert "no records yet" in (tmp_path / "out" / "report.md").read_text()
    assert "no records yet" in (tmp_path / "out" / "summary.md").read_text()
    assert {p.name for p in written} == {"summary.md", "report.md", "details.md", "tables.tex", "auc.md",
                                         "index.html"}


def test_configurations_of_one_method_get_their_own_rows():
    a = make_record("popularity", "movie", "movie", 16, 0, config={"prior": 2.0})
    b = make_record("popularity", "movie", "movie", 16, 0, config={"prior": 5.0})
    labels = report.row_labels([a, b])
    assert sorted(labels.values()) == ["popularity", "popularity[prior=5.0]"]  # a default goes unsaid


def test_lm_rows_say_model_preset_precision_and_score_and_nothing_operational():
    zero = make_record("zero-shot", "movie", "movie", 16, 0, config={
        "model": "smollm2-135m-instruct", "score": "logodds", "score_batch_size": 64})
    gru = make_record("gru4rec", "movie", "movie", 16, 0, config={"epochs": 50, "pretrain_epochs": 0, "threads": 1})
    labels = report.row_labels([zero, gru])
    assert labels[zero["key"]] == "zero-shot[model=smollm2-135m-instruct, precision=float32, score=logodds]"
    assert labels[gru["key"]] == "gru4rec"


def test_cost_table_gives_seconds_and_machine_per_cell():
    timed = []
    for seed, (fit, score) in enumerate([(10.0, 2.0), (20.0, 4.0)]):
        r = make_record("tallrec", "movie", "movie", 16, seed, signal=0.8)
        timed.append(dict(r, fit_seconds=fit, score_seconds=score, wall_seconds=fit + score, device="cpu",
                          machine="box x86_64, 2 CPUs"))
    untimed = make_record("random", "movie", "movie", 16, 0)
    reused = dict(make_record("tallrec", "movie", "book", 16, 0), fit_seconds=0.01, score_seconds=5.0,
                  wall_seconds=5.01, device="cpu", machine="box", method_extra={"train_seconds": 300.0})
    lines = report.cost_markdown([*timed, untimed, reused]).splitlines()
    assert ("| tallrec[precision=float32] | movie → movie | 300 | 16 | 2 | 15.0 | 3.0 | 18.0 | cpu | "
            "box x86_64, 2 CPUs |") in lines
    assert "| tallrec[precision=float32] | movie → book | 400 | 16 | 1 | 300.0* | 5.0 | 5.0 | cpu | box |" in lines
    assert not any(line.startswith("| random |") for line in lines)  # under a second: named, not listed
    assert "Every cell of random took under a second" in report.cost_markdown([*timed, untimed])


def test_a_parameter_added_later_at_its_neutral_value_is_the_same_row():
    older = make_record("tallrec", "movie", "movie", 16, 0, config={"lora_r": 8})
    newer = make_record("tallrec", "movie", "movie", 16, 1, config={"lora_r": 8, "share_prefix": False})
    other = make_record("tallrec", "movie", "movie", 16, 2, config={"lora_r": 8, "share_prefix": True})
    labels = report.row_labels([older, newer, other])
    assert labels[older["key"]] == labels[newer["key"]] != labels[other["key"]]


def test_auc_table_still_prints(records):
    assert "| like-ratio |" in report.auc_table(records)


def test_a_preset_names_its_row_and_the_auc_table_never_averages_two_configurations():
    from methods.lm import PRESETS

    fast = [make_record("tallrec", "movie", "movie", 16, seed, signal=0.2, config={"preset": "fast", **PRESETS["fast"].values()})
            for seed in (0, 1)]
    paper = make_record("tallrec", "movie", "movie", 16, 0, signal=2.0, config={"preset": "paper", **PRESETS["paper"].values()})
    tuned = make_record("tallrec", "movie", "movie", 16, 1, config={"preset": "paper", **PRESETS["paper"].values(),
                                                                   "learning_rate": 3e-4})
    labels = report.row_labels([*fast, paper, tuned])
    assert labels[fast[0]["key"]] == labels[fast[1]["key"]] == "tallrec[preset=fast, precision=float32, score=reference]"
    assert labels[paper["key"]] == "tallrec[preset=paper, precision=float32, score=reference]"  # the preset's learning rate unsaid
    assert labels[tuned["key"]] == "tallrec[preset=paper, precision=float32, score=reference, learning_rate=0.0003]"
    table = report.auc_table([*fast, paper, tuned])
    assert "| tallrec[preset=fast, precision=float32, score=reference] | " in table and "(n=2)" in table
    assert table.count("| tallrec[") == 3  # three configurations, three rows


def test_protocol_section_compares_gaps_to_like_ratio_across_the_two_splits(monkeypatch):
    """movie vs movie-temporal: the section shows both splits and each method's gap to like-ratio; a method
    that is strong on movie only moves down relative to like-ratio."""
    from bench.report.aggregate import aggregate
    from bench.report.protocol import protocol_markdown

    monkeypatch.setitem(LABELS, "movie-temporal", LABELS["movie"])
    monkeypatch.setitem(USERS, "movie-temporal", USERS["movie"])
    recs = []
    for domain, pop_signal in (("movie", 0.8), ("movie-temporal", 0.1)):
        for seed in (0, 1):
            recs.append(make_record("like-ratio", domain, domain, 16, seed, signal=0.4, deterministic=True))
            recs.append(make_record("popularity", domain, domain, 16, seed, signal=pop_signal, deterministic=True))
            recs.append(make_record("like-ratio", domain, domain, 64, seed, signal=0.4, deterministic=True))
    recs.append(make_record("popularity", "movie", "movie", 64, 0, signal=0.8, deterministic=True))
    tables = aggregate(recs)
    text = protocol_markdown(tables)
    assert tables.domains() == ["movie", "movie-temporal"]
    row = _table_lines(text)["popularity"]
    movie, temporal = (100 * tables.get(None, d, d, 16, "popularity").mean for d in ("movie", "movie-temporal"))
    assert f"{movie:.2f} / {temporal:.2f}" in row
    assert float(re.search(r"points\): popularity ([+-]\d+\.\d+)", text).group(1)) < 0
    assert "not run" in row.split("|")[-2] and "nan" not in text  # K=64: popularity has movie only
    anchor = [100 * (tables.get(None, "movie-temporal", "movie-temporal", k, "like-ratio").mean
                     - tables.get(None, "movie", "movie", k, "like-ratio").mean) for k in (16, 64)]
    assert f"like-ratio itself moves by {sum(anchor) / 2:+.2f}" in text  # the anchor's own shift, stated
    assert protocol_markdown(aggregate([r for r in recs if r["test"] == "movie"])) == ""


def test_tuning_is_tested_against_the_untuned_model_of_the_same_score_kind_on_the_same_samples():
    from bench.report.aggregate import aggregate
    from bench.report.tuning_gain import tuning_gain_markdown

    lm = {"model": "m", "score": "logodds"}
    untuned = [make_record("zero-shot", "movie", "movie", 16, seed, signal=0.1, config=lm, deterministic=True)
               for seed in (0, 1)]
    tuned = [make_record("tallrec", "movie", "movie", 16, seed, signal=1.5, config={**lm, "preset": "cpu"})
             for seed in (0, 1)]
    across = make_record("tallrec", "book", "movie", 64, 0, signal=0.1, config={**lm, "preset": "cpu"})
    other_kind = make_record("tallrec", "movie", "movie", 16, 0, signal=1.5, config={"model": "m", "score": "reference"})
    text = tuning_gain_markdown(aggregate([*untuned, *tuned, across, other_kind]), None)
    rows = [line for line in text.splitlines() if line.startswith("| movie") or line.startswith("| book")]
    assert len(rows) == 2  # no untuned cell under the reference kind: that tallrec cell is not compared
    assert rows[0].startswith("| movie → movie | 16 | tallrec[") and "(2 runs)" in rows[0]
    assert rows[1].startswith("| book → movie | 64 |")  # the untuned cell stands in for every train domain and K
    delta = float(rows[0].split("|")[6])
    assert delta > 20 and "significantly above the untuned model in 1 of 2 cells (0 of them a single run)" in text
    spread = 100 * abs(tuned[0]["auc"] - tuned[1]["auc"])  # the only cell with two runs
    assert f"differ by up to {spread:.1f} points" in text
    assert tuning_gain_markdown(aggregate([*untuned]), None) == ""

    # with the hint the untuned scores read the pool less the shots: only the same train domain, K, seeds
    hinted = {**lm, "hint": True}
    untuned_hint = make_record("zero-shot", "movie", "movie", 16, 0, signal=0.1, config=hinted, deterministic=True)
    tuned_hint = [make_record("tallrec", "movie", "movie", k, 0, signal=1.5, config={**hinted, "preset": "cpu"})
                  for k in (16, 64)]
    text = tuning_gain_markdown(aggregate([untuned_hint, *tuned_hint]), None)
    assert [line.split("|")[2].strip() for line in text.splitlines() if line.startswith("| movie")] == ["16"]


def test_tuning_is_holm_corrected_within_each_test_set():
    """Adding cells on another test set moves neither a test set's p-values nor its resamples: the
    family is the test set, so the table's cost grows with the number of test sets, not its square."""
    from bench.report.aggregate import aggregate
    from bench.report.tuning_gain import tuning_gain_markdown

    lm = {"model": "m", "score": "logodds"}

    def cells(test, seeds):
        return [make_record("zero-shot", test, test, 16, 0, signal=0.1, config=lm, deterministic=True),
                *(make_record("tallrec", test, test, k, s, signal=0.4, config={**lm, "preset": "cpu"})
                  for k in (16, 64) for s in seeds)]

    def movie_rows(text):
        return [line for line in text.splitlines() if line.startswith("| movie → movie")]

    alone = tuning_gain_markdown(aggregate(cells("movie", (0, 1))), None)
    together = tuning_gain_markdown(aggregate([*cells("book", (0, 1, 2)), *cells("movie", (0, 1))]), None)
    assert len(movie_rows(alone)) == 2 and movie_rows(alone) == movie_rows(together)
    assert len(together.splitlines()) > len(alone.splitlines())  # the book rows are there too
    assert "Holm-corrected within each test set" in together


def test_a_column_of_many_tests_can_still_show_a_clear_gap():
    """Holm multiplies the smallest bootstrap p (2 / (N + 1)) by the number of tests: with a fixed 2000
    resamples a column of 60 methods could show nothing significant, however large the gap."""
    recs = [make_record("like-ratio", "movie", "movie", 16, 0, signal=0.1)]
    recs += [make_record(f"strong-{i}", "movie", "movie", 16, 0, signal=3.0) for i in range(60)]
    cells = [c for c in report.aggregate(recs).column(None, "movie", "movie", 16) if c.comparison]
    assert len(cells) == 60
    assert all(c.comparison.significant and c.comparison.result.difference > 0 for c in cells)
    assert {c.comparison.result.n_resamples for c in cells} == {4800}


def test_tied_best_means_are_all_bold_whatever_the_store_order():
    twin = dict(make_record("like-ratio", "movie", "movie", 16, 0, signal=0.4), method="twin")
    twin["key"] = "twin-key"
    base = make_record("like-ratio", "movie", "movie", 16, 0, signal=0.4)
    for recs in ([base, twin], [twin, base]):
        md = report.table1_markdown(report.aggregate(recs), None, report.paper_rows())
        lines = _table_lines(md)
        assert "**" in lines["like-ratio"] and "**" in lines["twin"]


def test_cells_never_compared_are_marked_and_the_answer_says_not_tested():
    recs = [make_record("tallrec", "movie", "movie", 16, 0, signal=0.8, test_size=100)]
    tables = report.aggregate(recs)
    assert "°" in _table_lines(report.table1_markdown(tables, 100, report.paper_rows()))["tallrec"]
    assert "nothing is tested" in report.answer_markdown(tables, 100)
    from bench.report.summary import summary_rows

    assert summary_rows(tables, 100, []) == []  # no bar, so no verdict is claimed


def test_the_bar_is_a_cell_the_tests_can_pair_with():
    """A training-free cell whose seeds scored other samples cannot be tested against: it is not the bar."""
    mixed = [make_record("like-ratio", "movie", "movie", 16, seed, signal=0.8) for seed in (0, 1)]
    mixed[1] = dict(mixed[1], sample_ids=[f"other-{i}" for i in range(300)])
    popularity = make_record("popularity", "movie", "movie", 16, 0, signal=0.2)
    tables = report.aggregate([*mixed, popularity, make_record("tallrec", "movie", "movie", 16, 0, signal=0.4)])
    lines = _table_lines(report.table1_markdown(tables, None, report.paper_rows()))
    assert "†" in lines["popularity"] and "†" not in lines["like-ratio"]
    assert tables.get(None, "movie", "movie", 16, "tallrec[precision=float32]").comparison.baseline == "popularity"


def test_a_seed_stored_twice_in_one_cell_is_refused_by_name():
    """The same configuration rerun on regenerated data gets a key of its own; the report must not
    average both as two draws of shots."""
    again = dict(make_record("like-ratio", "movie", "movie", 16, 0, signal=0.2), data={"movie": "regenerated"})
    again["key"] = "regenerated-key"
    recs = [make_record("like-ratio", "movie", "movie", 16, seed, signal=0.4) for seed in (0, 1)] + [again]
    with pytest.raises(BenchError, match=r"seed 0 is stored twice with different scores .*regenerated-key.*data "
                                         r"fingerprints differ"):
        report.aggregate(recs)
    assert report.aggregate(recs[:2]).get(None, "movie", "movie", 16, "like-ratio").seeds == [0, 1]


def test_a_seed_stored_twice_with_the_same_scores_counts_once():
    """A rerun under an operational setting the row does not show scores alike: one run, not an error."""
    recs = [make_record("like-ratio", "movie", "movie", 16, seed, signal=0.4) for seed in (0, 1)]
    again = dict(recs[0], key="rerun-key")
    cell = report.aggregate([*recs, again]).get(None, "movie", "movie", 16, "like-ratio")
    assert cell.seeds == [0, 1] and len(cell.runs) == 2


def test_the_caption_says_which_cells_resample_samples_for_want_of_users():
    """A record written before users were stored falls back to the per-sample bootstrap; the caption
    must say so rather than name the users for every cell."""
    old = make_record("random", "movie", "movie", 16, 0)
    del old["users"]
    recs = [make_record("like-ratio", "movie", "movie", 16, 0, signal=0.4), old]
    assert "(1 cells without recorded users resample samples)" in report.table1_caption(
        report.aggregate(recs, with_statistics=False), None, "the paper")
    assert "without recorded users" not in report.table1_caption(
        report.aggregate(recs[:1], with_statistics=False), None, "the paper")


def test_a_training_free_method_from_another_package_can_be_the_bar(monkeypatch):
    """The bar is chosen by the `training_free` tag, not by name: an out-of-tree method that declares
    itself training-free and scores better than like-ratio is the bar every other row is tested against,
    and sorts with the training-free family."""
    from bench.report.aggregate import strongest_baseline
    from bench.run import registry

    class PluginFree(registry.Method):
        """A third party's training-free baseline (defined here, registered as a plugin would be)."""

        name = "plugin-free"
        training_free = True
        family = "training-free"
        reads = frozenset({"sample"})

        def score(self, samples):
            return [0.0 for _ in samples]

    registry.available()
    monkeypatch.setitem(registry._REGISTRY, "plugin-free", PluginFree)
    recs = [make_record(m, "movie", "movie", 16, seed, signal=s)
            for m, s in (("like-ratio", 0.4), ("plugin-free", 0.9), ("mf", 0.6)) for seed in (0, 1)]
    tables = report.aggregate(recs)
    column = tables.column(None, "movie", "movie", 16)
    bar = strongest_baseline(column)
    assert bar.row == "plugin-free"
    assert {c.row: c.comparison.baseline for c in column if c.comparison} == {"like-ratio": "plugin-free",
                                                                              "mf": "plugin-free"}
    assert tables.rows(None) == ["like-ratio", "plugin-free", "mf"]  # training-free family first
    assert "the bar is plugin-free" in report.answer_markdown(tables, None)


def test_the_summary_shows_defaults_and_features_never_the_best_configuration(records):
    """Which row stands for a method is fixed before test AUC is read: its defaults, plus what the user
    features. A stronger non-default configuration is not picked on its own; featured, it is."""
    from bench.report import summary

    strong = [make_record("mf", "movie", "movie", k, 0, signal=1.5, config={"dim": 32}, deterministic=True)
              for k in (16, 64)]
    tables = report.aggregate(records + strong)
    plain = summary.summary_markdown(tables, None, [])
    lines = [line for line in plain.splitlines() if line.startswith("| movie")]
    assert lines and all("mf[dim=32]" not in line for line in lines)
    assert all(len(cell.strip()) <= 60 for line in lines for cell in line.split("|")[1:6])
    featured = summary.summary_markdown(tables, None, summary.read_features(["mf[dim=32]"]))
    assert "mf[dim=32]" in featured and "**beaten**" in featured
    assert "Featured, but no cell" not in featured
    typo = summary.summary_markdown(tables, None, summary.read_features(["mf[dim=33]"]))
    assert "Featured, but no cell here is configured so: mf[dim=33]." in typo
    answer = summary.answer_line(tables, None, summary.read_features(["mf[dim=32]"]))
    assert "Answer (full test sets): movie: the bar is like-ratio; beaten by mf[dim=32]" in answer
    resolutions = sorted(100 * row["resolution"] for row in summary.summary_rows(tables, None, [])
                         if row["domain"] == "movie")
    assert resolutions[0] < resolutions[-1]  # the fixture's K columns differ, so the clause gives a range
    assert f"{resolutions[0]:.1f}-{resolutions[-1]:.1f} points: smaller differences often go unnoticed" in answer
    with pytest.raises(BenchError, match="not key=value"):
        summary.parse_feature("tallrec[preset]")
    with pytest.raises(BenchError, match=r"no method 'talrec'; `bench list` shows them: .*tallrec"):
        summary.parse_feature("talrec[preset=cpu]")  # a typo would otherwise match no row, silently
    with pytest.raises(BenchError, match=r"tallrec has no parameter 'presets'; it has: model, .*preset"):
        summary.parse_feature("tallrec[presets=cpu]")
    assert summary.parse_feature("tallrec[preset=cpu, selected_by=reference]").method == "tallrec"
    with pytest.raises(BenchError, match=r"mf has no parameter 'selected_by'"):
        summary.parse_feature("mf[selected_by=logodds]")  # only a method with score views has it


def test_float32_on_a_cpu_is_the_default_row_and_bfloat16_is_not():
    """Precision is key-neutral at float32: a record without it (or with float32) is the method's CPU
    default, short-labelled without it; bfloat16 departs from the default and says so."""
    from bench.report import labels, summary

    lm = {"model": "smollm2-135m-instruct", "preset": "cpu", "score": "logodds"}
    plain = make_record("tallrec", "movie", "movie", 16, 0, signal=0.5, config=lm)
    bf16 = make_record("tallrec", "movie", "movie", 16, 0, signal=0.5, config={**lm, "precision": "bfloat16"})
    tables = report.aggregate([plain, bf16])
    cells = {c.row: c for c in tables.cells.values() if c.method == "tallrec"}
    row = "tallrec[model=smollm2-135m-instruct, preset=cpu, precision={}, score=logodds]"
    at_cpu, at_bf16 = cells[row.format("float32")], cells[row.format("bfloat16")]
    assert summary.at_defaults(at_cpu) and not summary.at_defaults(at_bf16)
    assert labels.short_label(at_cpu) == "tallrec"  # the cpu preset and log-odds are its CPU defaults
    assert labels.short_label(at_bf16) == "tallrec[precision=bfloat16]"
    float32 = summary.parse_feature("tallrec[precision=float32]")  # records leave float32 out: it still matches
    assert float32.matches(at_cpu) and not float32.matches(at_bf16)


def test_the_summary_goes_between_the_readme_markers(tmp_path: Path, records):
    store = ResultStore(tmp_path / "store")
    for r in records:
        store.write(r)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Tool\n\n{report.SUMMARY_START}\nold numbers\n{report.SUMMARY_END}\n\n## Usage\n")
    report.write_reports(store, tmp_path / "out", figures=False, readme=readme)
    text = readme.read_text()
    assert "old numbers" not in text and "## Usage" in text and "| movie" in text
    assert text.index(report.SUMMARY_START) < text.index("| movie") < text.index(report.SUMMARY_END)
    readme.write_text("# no markers\n")
    with pytest.raises(BenchError, match="markers"):
        report.write_reports(store, tmp_path / "out", figures=False, readme=readme)


def test_no_row_label_is_over_60_characters_and_shared_settings_go_to_the_caption(tmp_path: Path, records):
    """A label shows what tells its row from the others: the LM's model and precision at their defaults go
    into a caption sentence, and a label still over 60 characters becomes `method (a)`, spelled out below."""
    long = make_record("tallrec", "movie", "movie", 16, 0, signal=0.5,
                       config={"model": "smollm2-135m-instruct", "preset": "cpu", "score": "reference",
                               "history": "retrieved", "hint": True, "learning_rate": 0.001, "lora_r": 16})
    store = ResultStore(tmp_path / "store")
    for r in [*records, long]:
        store.write(r)
    report.write_reports(store, tmp_path / "out", figures=False)
    for name in ("report.md", "details.md"):
        text = (tmp_path / "out" / name).read_text()
        firsts = [line.split(" | ")[0].lstrip("| ") for line in text.splitlines()
                  if line.startswith("| ") and not line.startswith("| train")]
        assert firsts and max(map(len, firsts)) <= 60, max(firsts, key=len)
        details_rows = [line.split(" | ")[2] for line in text.splitlines() if line.startswith("| movie → movie")]
        assert all(len(row) <= 60 for row in details_rows)
    report_md = (tmp_path / "out" / "report.md").read_text()
    assert "| tallrec (a) |" in report_md and "(a) tallrec[" in report_md and "hint=True" in report_md
