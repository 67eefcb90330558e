"""The README is a manual: short, with its results generated between markers, never typed."""

from __future__ import annotations

from pathlib import Path

from bench.report.render import SUMMARY_END, SUMMARY_START

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_is_short_and_its_results_are_generated():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    start, end = text.index(SUMMARY_START), text.index(SUMMARY_END)
    generated = text[start:end]
    assert "| test set | K | resolution | bar |" in generated  # bench report --readme wrote it
    outside = text[:start] + text[end:]
    assert "±" not in outside  # no hand-typed result table outside the markers
