"""One self-contained HTML page of the report: index.html next to the markdown files.

The markdown files are for reading in a repository; a person who wants the results in a browser, or to mail
them, gets one file that opens without a network: figures are embedded as base64 data URIs, and the styles
and the few lines of script (sortable tables) are inline. No CDN, no external CSS or JS.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
from collections.abc import Callable
from pathlib import Path

import markdown
from markdown.extensions.toc import TocExtension, slugify_unicode

_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]*)(")')

_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #1a1a1a; margin: 0; display: flex; }
nav { position: sticky; top: 0; align-self: flex-start; height: 100vh; overflow-y: auto; flex: 0 0 220px;
      box-sizing: border-box; padding: 1em; background: #f6f7f9; border-right: 1px solid #ddd;
      font-size: 13px; }
nav ul { list-style: none; padding-left: 0.9em; margin: 0.2em 0; }
nav > ul { padding-left: 0; }
nav a { color: #24466b; text-decoration: none; }
nav a:hover { text-decoration: underline; }
main { flex: 1; min-width: 0; padding: 1em 1.5em 4em; }
section + section { border-top: 3px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #c8ccd1; padding: 3px 7px; vertical-align: top; }
thead th { position: sticky; top: 0; background: #e4e8ee; cursor: pointer; user-select: none; }
thead th[aria-sort="ascending"]::after { content: " \\25B2"; }
thead th[aria-sort="descending"]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #f4f6f8; }
tbody tr:hover { background: #fdf6d8; }
td.num { text-align: right; }
img { max-width: 100%; height: auto; }
code { background: #f0f0f0; padding: 0 3px; }
@media (max-width: 900px) { body { display: block; } nav { position: static; height: auto; } }
"""

# Right-aligns cells that start with a number and sorts a table by the clicked header: numbers by value,
# then the other cells by text (always after the numbers). Clicks cycle ascending, descending, original order.
_JS = """
(function () {
  var NUM = /^\\s*[-+\\u2212]?\\d+(\\.\\d+)?/;
  function key(cell) {
    var t = cell ? cell.textContent.trim() : "", m = t.match(NUM);
    return m ? [0, parseFloat(m[0].replace("\\u2212", "-")), t] : [1, 0, t];
  }
  document.querySelectorAll("td").forEach(function (td) {
    if (NUM.test(td.textContent)) td.className = "num";
  });
  document.querySelectorAll("table").forEach(function (table) {
    var body = table.tBodies[0], heads = table.querySelectorAll("thead th");
    if (!body) return;
    var original = Array.prototype.slice.call(body.rows);
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var state = th.getAttribute("aria-sort"), rows = original.slice();
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        if (state !== "descending") {
          var sign = state === "ascending" ? -1 : 1;
          th.setAttribute("aria-sort", sign > 0 ? "ascending" : "descending");
          rows.sort(function (a, b) {
            var x = key(a.cells[col]), y = key(b.cells[col]);
            return x[0] - y[0] || sign * (x[1] - y[1] || x[2].localeCompare(y[2]));
          });
        }
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"""


def _embed_images(body: str, out_dir: Path) -> str:
    """Replaces each <img src> naming a file inside out_dir with a base64 data URI; leaves others."""
    root = out_dir.resolve()

    def embed(match: re.Match[str]) -> str:
        src = html.unescape(match.group(2))
        if ":" in src or src.startswith("/"):  # a URL, a data URI or an absolute path: not ours to embed
            return match.group(0)
        path = (root / src).resolve()
        if not path.is_file() or not path.is_relative_to(root):
            return match.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{match.group(1)}data:{mime};base64,{data}{match.group(3)}"

    return _IMG_SRC.sub(embed, body)


def _toc(tokens: list[dict], depth: int = 3) -> str:
    """A nested list of links from Python-Markdown's toc tokens, headings up to `depth`."""
    items = [
        f'<li><a href="#{t["id"]}">{t["name"]}</a>{_toc(t["children"], depth)}</li>'
        for t in tokens
        if t["level"] <= depth
    ]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _slugify_for(stem: str) -> Callable[[str, str], str]:
    """Heading ids prefixed by the page's name, so that equal headings on two pages stay distinct."""
    return lambda value, separator: f"{stem}{separator}{slugify_unicode(value, separator)}"


def write_index(out_dir: Path, pages: list[str]) -> Path:
    """Writes out_dir/index.html from the markdown files `pages` (in that order; missing ones skipped)."""
    out_dir = Path(out_dir)
    sections, toc, title = [], [], ""
    for page in pages:
        source = out_dir / page
        if not source.is_file():
            continue
        stem = Path(page).stem
        converter = markdown.Markdown(extensions=["tables", TocExtension(slugify=_slugify_for(stem))])
        body = _embed_images(converter.convert(source.read_text(encoding="utf-8")), out_dir)
        sections.append(f'<section id="{html.escape(stem)}">\n{body}\n</section>')
        toc.append(_toc(converter.toc_tokens))
        if not title:
            title = next((t["name"] for t in converter.toc_tokens if t["level"] == 1), "")
    title = title or "bench report"  # a toc token's name is already HTML-escaped
    document = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<nav aria-label="Contents"><strong>Contents</strong>{"".join(toc)}</nav>\n'
        f"<main>\n{chr(10).join(sections)}\n</main>\n<script>{_JS}</script>\n</body>\n</html>\n"
    )
    index = out_dir / "index.html"
    index.write_text(document, encoding="utf-8")
    return index
