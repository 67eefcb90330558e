"""Few-shot training sets and cross-domain plans.

K shots for a seed are drawn exactly as the reference code does
(`dataset.shuffle(seed).select(range(K))`), which equals
`numpy.random.default_rng(seed).permutation(N)[:K]` over the train pool.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data import cards
from bench.data.domains import DomainData, load_domain
from bench.data.samples import Sample
from bench.errors import BenchError

#: The train plan `both`: K shots from each of these domains (the paper's cross-domain setting).
BOTH = ("movie", "book")
TEST_SUBSET_SEED = 0


def few_shot(pool: list[Sample], k: int, seed: int, domain: str) -> list[Sample]:
    """The K training samples for `seed`, in the order the reference code visits them."""
    if k < 0:
        raise BenchError(f"K must be 0 or more, got {k}")
    if seed < 0:
        raise BenchError(f"seeds must be 0 or more, got {seed}")
    if k > len(pool):
        raise BenchError(f"K={k} is larger than the {domain} train pool ({len(pool)} samples); "
                         f"choose K <= {len(pool)}")
    order = np.random.default_rng(seed).permutation(len(pool))[:k]
    return [pool[i] for i in order]


def train_domains(plan: str) -> list[str]:
    """A domain's name, or `both` (K shots from movie and from book)."""
    if plan == "both":
        return list(BOTH)
    known = cards.all_cards()
    if plan not in known:
        raise BenchError(f"unknown train domain {plan!r}; choose one of: {', '.join([*known, 'both'])} "
                         "(or pass --card FILE with your own)")
    return [plan]


@dataclass
class TrainingSet:
    """What a method may learn from: the shots, the validation set, and the pool they came from."""

    plan: str
    shots: list[Sample]
    valid: list[Sample]
    pool: list[Sample]
    domains: list[DomainData]


def training_set(plan: str, k: int, seed: int, data_dir: Path | None = None) -> TrainingSet:
    domains = [load_domain(d, data_dir) for d in train_domains(plan)]
    shots, valid, pool = [], [], []
    for domain in domains:
        shots += few_shot(domain.train, k, seed, domain.name)
        valid += domain.valid
        pool += domain.train
    return TrainingSet(plan, shots, valid, pool, domains)


def pool_without(pool: list[Sample], shots: list[Sample]) -> list[Sample]:
    """The pool less every (user, item) pair of a shot's target: as a target the sample goes, in a
    history the entry goes. Why: the shots are pool samples, so features read from the pool's logs
    (an item's like rate, mf) would otherwise tell a shot its own label."""
    pairs = {(s.domain, s.user, s.target.id) for s in shots}
    kept = []
    for s in pool:
        if (s.domain, s.user, s.target.id) in pairs:
            continue
        history = tuple(h for h in s.history if (s.domain, s.user, h.item.id) not in pairs)
        kept.append(s if len(history) == len(s.history) else dataclasses.replace(s, history=history))
    return kept


def check_subset_size(size: int | None) -> None:
    """A subset holds at least one sample (None: the whole set); the runner asks before anything runs."""
    if size is not None and size < 1:
        raise BenchError(f"--test-size must be 1 or more, got {size}; leave it out for the full test set")


def evaluation_subset(samples: list[Sample], size: int | None) -> list[Sample]:
    """The whole test set, or a fixed subset of `size` samples (seed-0 permutation, file order kept)
    so every method and every run sees the same samples."""
    check_subset_size(size)
    if size is None or size >= len(samples):
        return samples
    keep = np.sort(np.random.default_rng(TEST_SUBSET_SEED).permutation(len(samples))[:size])
    return [samples[i] for i in keep]
