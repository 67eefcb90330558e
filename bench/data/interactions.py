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

The `leave-last-out` protocol is the standard one of sequential recommendation (SASRec, BERT4Rec):
per user, the last sample (the last interaction with `history` interactions before it) is the test
sample, the one before it validation, and the user's earlier samples form the train pool. Every user
is tested once, so a log of N users gives N independent test samples: the test set with the most
users, and so the most power, a log can give. Users with fewer than `history` + 2 interactions have no
validation sample and are left out (`users_left_out` counts them). Time is cut per user, not globally:
one user's pool samples may be later than another user's test target (the audit gives the share).
`keep_last` caps the pool at its latest samples in time; test and validation keep every user.
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


def _leave_last_out(windows: list[_Window], keep_last: int | None) -> dict[str, list[_Window]]:
    by_user: dict[str, list[_Window]] = {}
    for w in windows:  # users in first-appearance order, each user's windows in time order
        by_user.setdefault(w.user, []).append(w)
    parts: dict[str, list[_Window]] = {"train": [], "valid": [], "test": []}
    for user_windows in by_user.values():
        if len(user_windows) < 2:
            continue
        parts["train"] += user_windows[:-2]
        parts["valid"].append(user_windows[-2])
        parts["test"].append(user_windows[-1])
    if keep_last is not None and len(parts["train"]) > keep_last:
        latest = sorted(range(len(parts["train"])), key=lambda i: parts["train"][i].time)[-keep_last:]
        parts["train"] = [parts["train"][i] for i in sorted(latest)]  # the latest in time, in pool order
    return parts


def users_left_out(ratings: list[Rating], recipe: Recipe) -> int:
    """Users of the log with no test sample under `recipe`: too few interactions for a history (and,
    under leave-last-out, for a validation sample as well). The other protocols also lose users whose
    samples all fall outside `keep_last`; those are not counted here."""
    needed = recipe.history + (2 if recipe.protocol == "leave-last-out" else 1)
    counts: dict[str, int] = {}
    for r in ratings:
        counts[r.user] = counts.get(r.user, 0) + 1
    return sum(n < needed for n in counts.values())


def build_splits(ratings: list[Rating], items: dict[str, Item], recipe: Recipe, domain: str, noun: str,
                 where: str = "") -> dict[str, list[Sample]]:
    """{"train": pool, "valid": ..., "test": ...} samples of `domain` under `recipe`. `where` names the
    card in errors."""
    missing = sorted({r.item for r in ratings} - set(items))
    if missing:
        raise BenchError(f"{where}: {len(missing)} rated item(s) have no title in the item file (first: "
                         f"{missing[0]!r}); use the item file that belongs to these ratings")
    windows = _windows(ratings, recipe.history, recipe.past)
    if recipe.protocol == "leave-last-out":
        parts = _leave_last_out(windows, recipe.keep_last)
    else:
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

    entries: dict[int, HistoryItem] = {}  # one entry per rating, shared by every window that holds it

    def entry(r: Rating) -> HistoryItem:
        found = entries.get(id(r))
        if found is None:
            found = entries[id(r)] = HistoryItem(items[r.item], r.rating > recipe.like_above)
        return found

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
