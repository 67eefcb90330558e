"""Row labels that fit: in a table a row names only what tells it from its method's other rows there, in
at most 60 characters; what they all share (an LM's model and precision, say) goes into one caption
sentence instead, and a label still too long becomes `method (a)` with its full text in the caption.
`short_label` (the summary's) drops instead what is at the method's CPU defaults. Row identities
(`TableCell.row`) never change: only what a reader sees.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from bench.report.aggregate import TableCell, Tables

if TYPE_CHECKING:
    from bench.run.registry import Method

MAX_LABEL = 60


@functools.lru_cache(maxsize=None)
def default_config(method: str) -> dict[str, Any] | None:
    """The result config of `method` built with no parameters for a CPU, or None if it cannot be."""
    from bench.run import identity, registry

    try:
        return identity.key_config(registry.build(method, {}, "cpu"))
    except Exception:  # a plugin that cannot be built here (not installed, needs a key): no default row
        return None


def at_default(cls: type[Method], default: dict[str, Any], key: str, value: Any) -> bool:
    """`value` is what the method's CPU default holds for `key`; a parameter the default leaves out of its
    config (float32 precision on a CPU, say) holds its key-neutral value there. A key the default neither
    holds nor declares key-neutral is never at default: two rows that differ in it keep their labels apart."""
    return default.get(key, cls.key_neutral_defaults.get(key)) == value


def short_label(cell: TableCell) -> str:
    """The row without what its method's rows share at their defaults (model, precision): those go to
    the caption (`shared_settings`)."""
    from bench.run import identity, registry

    cls, default = registry.available().get(cell.method), default_config(cell.method) or {}
    if cls is None:
        return cell.row
    shown = {k: v for k, v in identity.label_config(cls, cell.records[0]["config"]).items()
             if not (k in cls.always_labelled and at_default(cls, default, k, v))}
    return identity.spelled(cell.method, shown)


def shared_settings(cells: list[TableCell]) -> str:
    """What `short_label` leaves out, per method, in one sentence (an embedded model says what it is)."""
    from bench.lm.models import model_note
    from bench.run import identity, registry

    parts = {}
    for cell in cells:
        cls = registry.available().get(cell.method)
        if cls is None or not cls.always_labelled:
            continue
        config = identity.label_config(cls, cell.records[0]["config"])
        hidden = {k: v for k, v in config.items() if k in cls.always_labelled and f"{k}={v}" not in short_label(cell)}
        if hidden:
            parts.setdefault(cell.method, hidden)
    notes = {model_note(v["model"]) for v in parts.values() if "model" in v}
    text = "; ".join(f"{m}: " + ", ".join(f"{k}={v}" for k, v in h.items()) for m, h in sorted(parts.items()))
    return (f"Settings the rows share: {text}. " + " ".join(f"Model {n}." for n in sorted(notes))) if text else ""


def _settings(cell: TableCell) -> dict[str, Any]:
    """What the row's full label names: its settings away from the defaults (and, for an installed
    method, its always-named settings); for a method not installed here, its recorded config."""
    from bench.run import identity, registry

    cls = registry.available().get(cell.method)
    config = cell.records[0]["config"]
    return identity.label_config(cls, config) if cls is not None else dict(sorted(config.items()))


def display_labels(cells: list[TableCell]) -> tuple[dict[str, str], str]:
    """Row -> the label a table or figure shows, and the caption text that completes them. A label names
    only the settings that differ between its method's rows here; what they all share goes into the
    caption (a method with one row is named alone), and a label still over MAX_LABEL characters becomes
    `method (a)`, spelled out in the caption."""
    from bench.lm.models import model_note
    from bench.run import identity

    by_method: dict[str, dict[str, dict[str, Any]]] = {}
    for cell in sorted((c for c in cells if c.records), key=lambda c: c.row):
        by_method.setdefault(cell.method, {}).setdefault(cell.row, _settings(cell))
    labels: dict[str, str] = {}
    shared_text, notes, models = [], [], set()
    for method, rows in sorted(by_method.items()):
        first = next(iter(rows.values()))
        shared = {k: v for k, v in first.items() if all(k in r and r[k] == v for r in rows.values())}
        if shared:
            shared_text.append(f"{method}: " + ", ".join(f"{k}={v}" for k, v in shared.items()))
            models.update(str(v) for k, v in shared.items() if k == "model")
        for row, settings in rows.items():
            differ = {k: v for k, v in settings.items() if k not in shared}
            label = identity.spelled(method, differ)
            if len(label) > MAX_LABEL:
                letter = chr(ord("a") + len(notes) % 26) + ("" if len(notes) < 26 else str(len(notes) // 26))
                notes.append(f"({letter}) {label}")
                label = f"{method} ({letter})"
            labels[row] = label
    for cell in cells:  # rows without records keep their own names, cut to fit
        labels.setdefault(cell.row, cell.row if len(cell.row) <= MAX_LABEL else cell.row[: MAX_LABEL - 1] + "…")
    caption = ("Settings every row of a method shares: " + "; ".join(shared_text) + "." if shared_text else "")
    caption += "".join(f" Model {model_note(m)}." for m in sorted(models) if model_note(m) != m)
    if notes:
        caption += " Rows shortened to a letter: " + "; ".join(notes) + "."
    return labels, caption.strip()


def table_labels(tables: Tables, test_size: int | None) -> tuple[dict[str, str], str]:
    """`display_labels` for every row of one test-set group (all its tables share them, so a row reads
    the same everywhere), computed once per group."""
    if test_size not in tables.labels:
        tables.labels[test_size] = display_labels([c for k, c in tables.cells.items() if k[0] == test_size])
    return tables.labels[test_size]
