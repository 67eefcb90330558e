"""Options that change what an LM prompt says about a user, applied to samples before they are prompted.

Retrieved histories (ReLLa, arXiv 2308.11131, "semantic user behaviour retrieval"): instead of the 10
most recent items, the prompt lists the 10 items of the user's longer past (`Sample.past`, before the
target only) most similar to the target, by the all-MiniLM-L6-v2 item vectors the text baselines use,
kept in time order. A domain without a longer past (the released book files) cannot use it.

A collaborative hint (the obvious hybrid: collaborative facts in words): one extra prompt line with the
user's like ratio over the listed items and the target's like rate among the pool's other interactions.
The pool is the method's train pool less every (user, item) pair of a shot's target, so a shot's hint
never tells its own label (the same rule as the `stack` hybrid, `bench.data.splits.pool_without`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.data.item_rates import ItemRates
from bench.data.samples import Sample
from bench.errors import BenchError

HISTORIES = ("recent", "retrieved")


def check_history(method: str, value: str) -> str:
    if value not in HISTORIES:
        raise BenchError(f"{method}.history must be one of {', '.join(HISTORIES)}, got {value!r}")
    return value


def retrieved(samples: list[Sample], method: str) -> list[Sample]:
    """Each sample with its history replaced by the len(history) past items most similar to its target.
    The vectors come from the text baselines' cache, encoded on the CPU (a GPU's last bits could swap
    near-tied neighbours)."""
    from bench.lm.text_embeddings import item_vectors

    lacking = [s for s in samples if not s.past]
    if lacking:
        raise BenchError(f"{method}.history=retrieved is not applicable to the {lacking[0].domain} domain: its "
                         "samples carry no longer past (the released JSON files hold only the 10-item history); "
                         "use history=recent there, or a domain built from a log (movie, movie-temporal, movie-loo, a card)")
    out = []
    by_domain: dict[str, list[Sample]] = {}
    for s in samples:
        by_domain.setdefault(s.domain, []).append(s)
    vectors = {d: item_vectors(d, [x for s in group for x in (s.target, *(h.item for h in s.past))])
               for d, group in by_domain.items()}
    for s in samples:
        v = vectors[s.domain]
        similarity = np.array([float(v[h.item.id] @ v[s.target.id]) for h in s.past])
        keep = np.sort(np.argsort(-similarity, kind="stable")[: len(s.history)])  # time order kept
        out.append(dataclasses.replace(s, history=tuple(s.past[i] for i in keep)))
    return out


def hint(sample: Sample, rates: ItemRates) -> str:
    """The prompt line: the user's like ratio over the listed items and the target's like rate in the pool."""
    listed = len(sample.history)
    liked = sum(h.liked for h in sample.history)
    likes, count = rates.of(sample)
    item = (f"other users liked this {sample.noun} in {likes} of its {count} ratings" if count
            else f"no other user has rated this {sample.noun}")
    return f"Collaborative hint: the user liked {liked} of the {listed} {sample.noun}s listed; {item}."


def with_hints(samples: list[Sample], rates: ItemRates) -> list[Sample]:
    return [dataclasses.replace(s, note=hint(s, rates)) for s in samples]
