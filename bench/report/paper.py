"""The paper's published numbers (paper_numbers.toml), kept apart from what is computed here: they are
read, never recomputed, and shown only beside full-test-set tables, since the paper measured them
on the full test sets."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

PAPER_NUMBERS = Path(__file__).with_name("paper_numbers.toml")
PAPER_DOMAINS = ("movie", "book")  # the paper reports these two


@dataclass
class PaperRow:
    paper_name: str
    method: str
    values: dict[tuple[str, int], float]  # (domain, K) -> AUC x 100
    model: str = ""  # the LM the paper used, where it used one

    @property
    def label(self) -> str:
        return f"paper: {self.paper_name}" + (f" ({self.model})" if self.model else "")


def paper_rows(path: Path = PAPER_NUMBERS) -> tuple[str, list[int], list[PaperRow]]:
    data = tomllib.loads(path.read_text())
    rows = [PaperRow(r["paper_name"], r["method"],
                     {(d, k): v for d in PAPER_DOMAINS for k, v in zip(data["shots"], r[d], strict=True)},
                     r.get("model", ""))
            for r in data["row"]]
    return data["source"], data["shots"], rows


def paper_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def paper_block(test_size: int | None, prows: list[PaperRow]) -> list[PaperRow]:
    """The paper's rows go under a full-set table only: its numbers are for the full test sets."""
    return prows if test_size is None else []
