"""tables.tex compiles and fits: every table `bench report` writes, in a two-column article that loads only
booktabs and graphicx, gives no LaTeX error, no Overfull \\hbox and no float taller than a page.

The store is synthetic (the committed results/ store takes minutes to report), shaped like the real one:
three test domains at K = 16/64/256, a movie table with about thirty rows of long LM-style labels (wider
and taller than a page unless the tables are split and scaled), labels with every character LaTeX
reads specially, cross-domain pairs, an n/a cell and a test subset."""

from __future__ import annotations

import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from bench.report.render import write_reports
from bench.report.text import latex_caption, latex_escape, latex_label
from bench.run.store import ResultStore, cell_key

RNG = np.random.default_rng(0)
#: domain -> (samples, samples per user): movie 20 to a user, book one, as on the real data.
DOMAINS = {"movie": (300, 20), "book": (200, 1), "movie-temporal": (200, 10)}
LABELS = {d: RNG.integers(0, 2, n).tolist() for d, (n, _) in DOMAINS.items()}
USERS = {d: [f"{d}-u{i // per}" for i in range(n)] for d, (n, per) in DOMAINS.items()}
SHOTS = (16, 64, 256)
#: An unregistered method's row label lists its whole config: as long as the real LM rows' labels.
LONG = {"model": "smollm2-135m-instruct", "preset": "cpu", "precision": "float32", "history": "retrieved",
        "selected_by": "logodds"}
SPECIAL = {"path": "runs/50%_a&b#1", "note": "{x}~^$|<> \\ [ok]", "arrow": "a→b ± c"}


def _record(method, train, test, shots, seed, *, signal=0.0, test_size=None, status="ok", config=None):
    labels = LABELS[test]
    rng = np.random.default_rng(zlib.crc32(repr((method, config, train, test, shots, seed)).encode()))
    scores = (np.asarray(labels) * signal + rng.random(len(labels))).tolist()
    identity = dict(method=method, config=config or {}, train=train, test=test, shots=shots, seed=seed,
                    test_size=test_size)
    record = dict(identity, key=cell_key(identity), status=status, n_test=len(labels), auc=None)
    if status == "ok":
        from sklearn.metrics import roc_auc_score

        record.update(auc=float(roc_auc_score(labels, scores)), labels=labels, users=USERS[test],
                      scores=scores, sample_ids=[f"{test}-{i}" for i in range(len(labels))])
    return record


def _records() -> list[dict]:
    recs = []
    for d in DOMAINS:
        for k in SHOTS:
            recs.append(_record("like-ratio", d, d, k, 0, signal=0.4))
            recs += [_record("random", d, d, k, seed) for seed in (0, 1)]
            recs.append(_record("lm_plugin", d, d, k, 0, signal=0.5, config=dict(LONG, score="logodds")))
    for i in range(28):  # a tall movie table: rows of long labels, K=16 only
        config = dict(LONG, score="reference" if i % 2 else "logodds", variant=i)
        recs += [_record("lm_plugin", "movie", "movie", 16, seed, signal=0.05 * (i % 5), config=config)
                 for seed in ((0, 1) if i % 3 == 0 else (0,))]
    recs += [_record("my_plugin", d, d, 16, 0, signal=0.2, config=SPECIAL) for d in ("movie", "book")]
    for train, test in (("movie", "book"), ("book", "movie"), ("both", "movie"), ("both", "book")):
        recs += [_record("like-ratio", train, test, k, 0, signal=0.3) for k in SHOTS]
    recs.append(_record("popularity", "book", "movie", 16, 0, status="not-applicable"))
    recs.append(_record("like-ratio", "movie", "movie", 16, 0, signal=0.4, test_size=100))
    return recs


@pytest.fixture(scope="module")
def tables_tex(tmp_path_factory) -> Path:
    """tables.tex as `bench report` writes it from the synthetic store."""
    root = tmp_path_factory.mktemp("latex")
    store = ResultStore(root / "store")
    for r in _records():
        store.write(r)
    write_reports(store, root / "reports", figures=False)
    return root / "reports" / "tables.tex"


def _unescaped(text: str) -> str:
    """`text` without escaped characters (`\\\\`, `\\{`, `\\}`, `\\$`)."""
    return re.sub(r"\\[\\{}$]", "", text)


def _balanced(text: str) -> bool:
    depth = 0
    for c in _unescaped(text):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


def test_every_table_row_and_caption_balances_and_escapes_once(tables_tex: Path):
    tex = tables_tex.read_text()
    assert tex.isascii()  # ±, †, →, — and the like are LaTeX commands, not characters an encoding must know
    floats = re.findall(r"\\begin\{table\*\}.*?\\end\{table\*\}", tex, flags=re.S)
    assert len(floats) >= 3 + 4  # Table 1 per test domain (and the subset's); cross-domain per K, test domain
    assert _balanced(tex) and all(_balanced(f) for f in floats)
    lines = [line for line in tex.splitlines() if line.endswith("\\\\") or line.startswith("\\caption")]
    assert lines and all(_balanced(line) for line in lines), [line for line in lines if not _balanced(line)]
    for line in lines:
        for math in re.findall(r"\$([^$]*)\$", re.sub(r"\\\$", "", line)):
            assert "\\textbackslash" not in math, line  # escaped once: real math, not printed backslashes
    captions = [line for line in lines if line.startswith("\\caption")]
    assert all("$\\times$ 100" in c and "x 100" not in c for c in captions)
    assert any("$\\pm$ sample std" in c and "$^{\\dagger}$" in c and "p $<$ 0.05" in c for c in captions)
    assert "\\emph{published in the paper (not computed here)}} \\\\" in tex
    assert "runs/50\\%\\_a\\&b\\#1" in tex
    assert "\\{x\\}\\textasciitilde{}\\textasciicircum{}\\$\\textbar{}" in tex


def test_latex_text_helpers():
    assert latex_escape("a_b 50% & #1 [x] ~^$ {y} \\") == (
        "a\\_b 50\\% \\& \\#1 {[}x{]} \\textasciitilde{}\\textasciicircum{}\\$ \\{y\\} \\textbackslash{}")
    assert latex_caption("AUC x 100; mean ± std; † best; ↑/↓; p < 0.05; 'n/a': none; the paper's [1]") == (
        "AUC $\\times$ 100; mean $\\pm$ std; $^{\\dagger}$ best; $^{\\uparrow}$/$^{\\downarrow}$; "
        "p $<$ 0.05; `n/a': none; the paper's [1]")
    assert latex_label("mf[fold_in=always]") == "mf{[}fold\\_in=always{]}"
    long = "tallrec[model=smollm2-135m-instruct, preset=cpu, precision=float32, score=reference, hint=True]"
    assert latex_label(long) == ("\\begin{tabular}[t]{@{}l@{}}"
                                 "tallrec{[}model=smollm2-135m-instruct, preset=cpu,"
                                 "\\\\\\quad precision=float32, score=reference, hint=True{]}"
                                 "\\end{tabular}")


def test_tables_tex_compiles_and_fits_a_two_column_page(tables_tex: Path, tmp_path: Path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not found: apt-get install texlive-latex-base texlive-latex-recommended")
    shutil.copy(tables_tex, tmp_path / "tables.tex")
    (tmp_path / "paper.tex").write_text("\\documentclass[twocolumn]{article}\n\\usepackage{booktabs}\n"
                                        "\\usepackage{graphicx}\n\\begin{document}\n\\input{tables.tex}\n"
                                        "\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = (tmp_path / "paper.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert run.returncode == 0 and not errors, errors or run.stdout[-3000:]
    assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)
    assert "Float too large" not in log, re.findall(r".*Float too large.*", log)
    assert (tmp_path / "paper.pdf").stat().st_size > 0
