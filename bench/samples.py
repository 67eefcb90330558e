"""The sample: a user's recent history (items with liked flags), a target item and a label.

Everything downstream (prompts, methods, metrics) works on these objects; prompt text is
rendered from them by `bench.prompts`, never stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Item:
    """An item of a domain. `id` is stable within the domain; `author` is set for books only."""

    id: str
    title: str
    author: str | None = None


@dataclass(frozen=True)
class HistoryItem:
    item: Item
    liked: bool


@dataclass(frozen=True)
class Sample:
    """One question: will this user like `target`, given `history`? `label` is 1 for liked.

    `uid` identifies the sample within its domain and split (for per-sample scores in records).
    """

    uid: str
    domain: str
    history: tuple[HistoryItem, ...]
    target: Item
    label: int

    @property
    def liked_items(self) -> list[Item]:
        return [h.item for h in self.history if h.liked]

    @property
    def disliked_items(self) -> list[Item]:
        return [h.item for h in self.history if not h.liked]


def fingerprint(samples: list[Sample]) -> str:
    """A short sha256 over the samples' full content: two runs on equal data share it."""
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(json.dumps(asdict(sample), sort_keys=True).encode())
    return digest.hexdigest()[:16]
