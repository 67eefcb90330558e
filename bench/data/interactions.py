"""From a log of ratings to samples: the TALLRec authors' recipe, and a protocol that respects time.

The authors' recipe (reproduces their released movie files byte for byte, see docs/data.md): a rating
above `like_above` is a like; per user, interactions sorted by timestamp (stable sort); every position
i >= `history` gives one sample (history = the items before it, target = item i); users in order of
first appearance in the log; keep the last `keep_last` samples; split by percentages in that order.
That order follows users, not time: most of the train pool is later than the test targets.

The `temporal` protocol builds the same samples and orders them by the target's timestamp: the test
set is the latest samples, validation the ones before, and the train pool keeps only samples whose
target is strictly earlier than the first validation target. A pool sample's history is earlier than
its target, so nothing a method may learn from (shots, the pool's histories and targets) happens in
or after the validation period.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.data.cards import Recipe
from bench.data.samples import HistoryItem, Item, Sample
from bench.errors import BenchError

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Rating:
    user: str
    item: str
    rating: float
    timestamp: int


@dataclass(frozen=True)
class _Window:
    user: str
    position: int
    ratings: tuple[Rating, ...]  # the history, then the target
    past: tuple[Rating, ...]  # the longer past before the target, the history among them

    @property
    def time(self) -> int:
        return self.ratings[-1].timestamp


def _windows(ratings: list[Rating], history: int, past: int) -> list[_Window]:
    by_user: dict[str, list[Rating]] = {}
    for rating in ratings:  # dicts keep first-appearance order
        by_user.setdefault(rating.user, []).append(rating)
    windows = []
    for user, user_ratings in by_user.items():
        ordered = sorted(user_ratings, key=lambda r: r.timestamp)  # stable
        for i in range(history, len(ordered)):
            windows.append(_Window(user, i, tuple(ordered[i - history : i + 1]), tuple(ordered[max(0, i - past) : i])))
    return windows


def _sizes(n: int, split: tuple[int, int, int]) -> tuple[int, int]:
    """(end of train pool, end of validation), as the authors cut: int(n * 0.8), int(n * 0.9)."""
    return n * split[0] // 100, n * (split[0] + split[1]) // 100


def build_splits(ratings: list[Rating], items: dict[str, Item], recipe: Recipe, domain: str, noun: str,
                 where: str = "") -> dict[str, list[Sample]]:
    """{"train": pool, "valid": ..., "test": ...} samples of `domain` under `recipe`. `where` names the
    card in errors."""
    missing = sorted({r.item for r in ratings} - set(items))
    if missing:
        raise BenchError(f"{where}: {len(missing)} rated item(s) have no title in the item file (first: "
                         f"{missing[0]!r}); use the item file that belongs to these ratings")
    windows = _windows(ratings, recipe.history, recipe.past)
    if recipe.protocol == "temporal":
        windows = sorted(windows, key=lambda w: w.time)  # stable: ties keep the authors' order
    if recipe.keep_last is not None:
        windows = windows[-recipe.keep_last :]
    train_end, valid_end = _sizes(len(windows), recipe.split)
    parts = {"train": windows[:train_end], "valid": windows[train_end:valid_end], "test": windows[valid_end:]}
    if recipe.protocol == "temporal" and parts["valid"]:
        start = parts["valid"][0].time
        parts["train"] = [w for w in parts["train"] if w.time < start]
    for split in SPLITS:
        if not parts[split]:
            raise BenchError(f"{where}: the {split} split is empty ({len(windows)} samples from "
                             f"{len({r.user for r in ratings})} users with more than {recipe.history} ratings); "
                             "use more data, a shorter recipe.history or a larger recipe.keep_last")

    def entry(r: Rating) -> HistoryItem:
        return HistoryItem(items[r.item], r.rating > recipe.like_above)

    def to_sample(w: _Window) -> Sample:
        return Sample(
            uid=f"u{w.user}-{w.position}",
            domain=domain,
            history=tuple(entry(r) for r in w.ratings[:-1]),
            target=items[w.ratings[-1].item],
            label=int(w.ratings[-1].rating > recipe.like_above),
            user=w.user,
            timestamp=w.time,
            item_noun=noun,
            past=tuple(entry(r) for r in w.past),
        )

    splits = {split: [to_sample(w) for w in parts[split]] for split in SPLITS}
    for split, samples in splits.items():
        liked = sum(s.label for s in samples)
        if liked in (0, len(samples)):
            raise BenchError(f"{where}: recipe.like_above = {recipe.like_above:g} leaves the {split} split with "
                             f"{'no liked' if liked == 0 else 'only liked'} samples; choose a threshold "
                             "between the ratings the data holds")
    return splits
