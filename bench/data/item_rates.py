"""Like counts per item over a pool's interactions: the one counter behind `popularity` and the LM hint.

An interaction is a history entry (item, liked) or a labelled target of a pool sample. Keys carry the
domain, since item ids of two domains may coincide.
"""

from __future__ import annotations

from collections import Counter

from bench.data.samples import Sample


class ItemRates:
    """How often each (domain, item) occurs in a pool's interactions, and how often it is liked there."""

    def __init__(self, pool: list[Sample]) -> None:
        self.likes: Counter[tuple[str, str]] = Counter()
        self.counts: Counter[tuple[str, str]] = Counter()
        for s in pool:
            for item_id, liked in s.interactions():
                self.counts[(s.domain, item_id)] += 1
                self.likes[(s.domain, item_id)] += liked
        total = sum(self.counts.values())
        self.base_rate = sum(self.likes.values()) / total if total else 0.5

    def of(self, sample: Sample) -> tuple[int, int]:
        """(likes, ratings) of the sample's target item in the pool."""
        key = (sample.domain, sample.target.id)
        return self.likes[key], self.counts[key]
