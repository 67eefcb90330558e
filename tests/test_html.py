"""reports/index.html: one self-contained page (figures inline, no network), the summary before the report;
and, where Chromium is installed, that a real browser renders it without console errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from bench.report.html import write_index

SUMMARY = """# Summary

Does anything beat like-ratio? **no**.

| method | movie K=16 |
|---|---|
| like-ratio | 72.60 (1 run)† |
| summarycell-mf | 69.43 ± 0.19 (n=5) |
"""

REPORT = """# Report

## Table 1

| method | book K=16 |
|---|---|
| random | 50.50 ± 1.57 (n=5)↓ |

![AUC against K](auc_vs_k.png)
"""


def _pages(out: Path) -> Path:
    """summary.md, report.md and the PNG the report shows, in `out`; details.md left out on purpose."""
    (out / "summary.md").write_text(SUMMARY, encoding="utf-8")
    (out / "report.md").write_text(REPORT, encoding="utf-8")
    pixels = np.zeros((8, 12, 3))
    pixels[:, :6, 0] = 1.0  # half red, half black: not a blank image
    mpimg.imsave(out / "auc_vs_k.png", pixels)
    return write_index(out, ["summary.md", "report.md", "details.md"])


def test_index_is_one_self_contained_page(tmp_path):
    index = _pages(tmp_path)
    assert index == tmp_path / "index.html"
    page = index.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Summary</title>" in page
    assert "<table>" in page and "<td>summarycell-mf</td>" in page
    assert 'src="data:image/png;base64,' in page and 'src="auc_vs_k.png"' not in page
    assert "http://" not in page and "https://" not in page
    assert page.index(">Summary</h1>") < page.index(">Report</h1>")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on `page`, its own profile folder, console messages logged to stderr."""
    command = [_chromium(), "--headless", "--no-sandbox", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _console_errors(stderr: str) -> list[str]:
    """Console lines of the page. This Chromium logs console.error at level INFO ('INFO:CONSOLE... "msg"'),
    so any CONSOLE line counts (the page logs nothing), which covers 'Uncaught ...' and ERROR ones too."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line and "dbus" not in line]


needs_chromium = pytest.mark.skipif(
    _chromium() is None, reason="no chromium on PATH (as root: apt-get install chromium)"
)


@needs_chromium
def test_a_browser_renders_the_page(tmp_path):
    index = _pages(tmp_path)
    shot = tmp_path / "screenshot.png"
    done = _browse(index, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1000,800")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _console_errors(done.stderr) == []
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (800, 1000) and pixels.min() != pixels.max()  # not a blank page

    dom = _browse(index, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<td>summarycell-mf</td>" in dom.stdout and "72.60 (1 run)†" in dom.stdout
    assert '<td class="num">' in dom.stdout  # the inline script ran: number cells marked for right-alignment
    assert _console_errors(dom.stderr) == []


@needs_chromium
def test_the_console_check_sees_a_script_error(tmp_path):
    """The check above is not vacuous: this Chromium's log does show a page's uncaught error."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>t</title><p>x</p><script>undefinedName.call();</script>")
    done = _browse(page, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0
    assert any("Uncaught" in line for line in _console_errors(done.stderr))
