"""Audit a domain's splits: who the samples belong to, how they overlap and how they sit in time.

AUCs are read as if the test samples were independent draws of unseen interactions. They are not
always: the authors' movie test set is 1000 samples from 16 users whose 10-item history windows
overlap (most of a test sample's history is other test samples' targets), and the train pool is
partly later in time than the test interactions. These facts decide how to read a result (the
statistics resample users, not samples), so they are computed from the data, never written down.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter, defaultdict

from bench.data.domains import DomainData
from bench.data.samples import Sample
from bench.metrics import auc

SPLITS = ("train", "valid", "test")
NO_USER_IDS = "none in the source, one user per sample"
SOURCE_USER_IDS = "from the source"


def _user(sample: Sample) -> str:
    """A sample without a user (older constructors) counts as a user of its own."""
    return sample.user or sample.uid


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _split_facts(samples: list[Sample]) -> dict:
    per_user = Counter(_user(s) for s in samples)
    counts = sorted(per_user.values())
    return {
        "samples": len(samples),
        "users": len(per_user),
        "samples_per_user": {
            "min": counts[0] if counts else 0,
            "median": float(statistics.median(counts)) if counts else 0.0,
            "max": counts[-1] if counts else 0,
        },
        "liked_share": _share(sum(s.label for s in samples), len(samples)),
    }


def _history_overlap(test: list[Sample]) -> dict:
    """History entries of test samples that are another test sample's target (same user, same item):
    such an entry's liked flag is that other sample's label, so the test samples are far from independent."""
    targets: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in test:
        targets[(_user(s), s.target.id)].add(s.uid)
    entries = overlapping = 0
    for s in test:
        user = _user(s)
        for h in s.history:
            entries += 1
            owners = targets.get((user, h.item.id), set())
            if owners - {s.uid}:
                overlapping += 1
    # With one test sample per user no history entry can be another sample's target: 0 by construction.
    measurable = any(n > 1 for n in Counter(_user(s) for s in test).values())
    return {
        "measurable": measurable,
        "note": None if measurable else "no test user has more than one test sample",
        "entries": entries,
        "overlapping": overlapping if measurable else None,
        "share": _share(overlapping, entries) if measurable else None,
    }


def _time_facts(pool: list[Sample], test: list[Sample]) -> dict | None:
    """How much of the pool is later than the test: few-shot examples drawn from it can come from the
    test's future. None where the source has no timestamps."""
    if not pool or not test or any(s.timestamp is None for s in pool + test):
        return None
    first_test = min(s.timestamp for s in test)
    last_test = max(s.timestamp for s in test)
    later = sum(s.timestamp > first_test for s in pool)
    by_item: dict[str, list[int]] = defaultdict(list)
    for s in pool:
        by_item[s.target.id].append(s.timestamp)
    for stamps in by_item.values():
        stamps.sort()
    shares = []
    for s in test:
        stamps = by_item.get(s.target.id)
        if stamps:
            shares.append((len(stamps) - bisect.bisect_right(stamps, s.timestamp)) / len(stamps))
    return {
        "first_test_timestamp": first_test,
        "last_test_timestamp": last_test,
        "pool_later_than_first_test": later,
        "pool_later_than_first_test_share": _share(later, len(pool)),
        "pool_later_than_last_test_share": _share(sum(s.timestamp > last_test for s in pool), len(pool)),
        "test_samples_with_item_in_pool": len(shares),
        "item_pool_later_share_mean": statistics.fmean(shares) if shares else None,
    }


def _cross_user_time(pool: list[Sample], test: list[Sample]) -> float | None:
    """The mean, over test samples, of the share of the pool later than that test target. Under
    leave-last-out a user's own pool precedes their test sample, but other users' pools need not."""
    if not pool or not test or any(s.timestamp is None for s in pool + test):
        return None
    stamps = sorted(s.timestamp for s in pool)
    return statistics.fmean((len(stamps) - bisect.bisect_right(stamps, s.timestamp)) / len(stamps) for s in test)


def _resolution(test: list[Sample]) -> dict | None:
    """What the test set can resolve on its own: the AUC of the user's own liked share (what the
    training-free `like-ratio` scores) with its standard error by user, and the difference from a fixed
    value that a test at 0.05 would detect with 80% power (bench/report/statistics.py: the rule).
    Paired comparisons of two methods on these samples are usually tighter; the report gives them."""
    from bench.report import statistics as stats  # a leaf module: the one home of the bootstrap

    labels = [s.label for s in test]
    if len(set(labels)) < 2:
        return None
    scores = [sum(h.liked for h in s.history) / len(s.history) if s.history else 0.5 for s in test]
    se = stats.auc_standard_error(labels, scores, [_user(s) for s in test])
    return {"like_ratio_auc": auc(labels, scores), "standard_error": se,
            "detectable_difference": stats.detectable_difference(se)}


def _item_facts(pool: list[Sample], test: list[Sample]) -> dict:
    """Test targets the pool never shows (as a target or in a history): a method that learns items
    from the pool (popularity, sequential models) knows nothing about them."""
    seen = {s.target.id for s in pool} | {h.item.id for s in pool for h in s.history}
    test_items = {s.target.id for s in test}
    unseen = test_items - seen
    unseen_samples = sum(s.target.id in unseen for s in test)
    return {
        "test_target_items": len(test_items),
        "unseen_test_items": len(unseen),
        "unseen_test_samples": unseen_samples,
        "unseen_test_sample_share": _share(unseen_samples, len(test)),
    }


def audit(domain: DomainData) -> dict:
    """JSON-serialisable facts about `domain`'s splits (see the module docstring for why)."""
    every = domain.train + domain.valid + domain.test
    own_user = bool(every) and all(_user(s) == s.uid for s in every)
    return {
        "domain": domain.name,
        "source": domain.source,
        "user_ids": NO_USER_IDS if own_user else SOURCE_USER_IDS,
        "splits": {name: _split_facts(domain.split(name)) for name in SPLITS},
        "test_history_overlap": _history_overlap(domain.test),
        "users_left_out": domain.users_left_out,
        "time": _time_facts(domain.train, domain.test),
        "pool_later_than_test_mean_share": _cross_user_time(domain.train, domain.test),
        "items": _item_facts(domain.train, domain.test),
        "resolution": _resolution(domain.test),
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _median(value: float) -> str:
    return f"{value:g}"


def _table(facts: dict) -> list[str]:
    rows = ["| split | samples | users | samples per user (min / median / max) | liked |",
            "|---|---:|---:|---|---:|"]
    for name in SPLITS:
        f = facts["splits"][name]
        spu = f["samples_per_user"]
        label = "train pool" if name == "train" else name
        rows.append(f"| {label} | {f['samples']} | {f['users']} | {spu['min']} / {_median(spu['median'])} / "
                    f"{spu['max']} | {_pct(f['liked_share'])} |")
    return rows


def _sentences(facts: dict) -> list[str]:
    test = facts["splits"]["test"]
    overlap, time, items = facts["test_history_overlap"], facts["time"], facts["items"]
    lines = [f"Test: {test['samples']} samples from {test['users']} users (user ids: {facts['user_ids']}); "
             "samples of one user are not independent, so the statistics resample users."]
    if facts.get("users_left_out"):
        lines.append(f"Users left out: {facts['users_left_out']} (too few interactions for a test sample).")
    if overlap["measurable"]:
        lines.append(f"Test history overlap: {_pct(overlap['share'])} of the {overlap['entries']} history "
                     "entries of test samples are other test samples' targets (same user, same item).")
    else:
        lines.append(f"Test history overlap: not measurable ({overlap['note']}; user ids: {facts['user_ids']}).")
    if time is None:
        lines.append("Time: no timestamps in the source.")
    else:
        lines.append(f"Time: {_pct(time['pool_later_than_first_test_share'])} of the train pool is later than "
                     f"the earliest test target ({_pct(time['pool_later_than_last_test_share'])} later than "
                     f"the last); on average {_pct(time['item_pool_later_share_mean'])} of a "
                     "test item's pool interactions are later than the test interaction (over "
                     f"{time['test_samples_with_item_in_pool']} test samples whose item is in the pool).")
        if facts.get("pool_later_than_test_mean_share") is not None:
            lines.append(f"Across users: on average {_pct(facts['pool_later_than_test_mean_share'])} of the pool "
                         "is later than a test target.")
    lines.append(f"Items: {items['unseen_test_items']} of {items['test_target_items']} test target items "
                 f"({_pct(items['unseen_test_sample_share'])} of test samples) never appear in the train pool.")
    resolution = facts.get("resolution")
    if resolution:
        lines.append(f"Resolution: like-ratio (the liked share of the user's own history) scores AUC "
                     f"{100 * resolution['like_ratio_auc']:.2f}, standard error by user "
                     f"{100 * resolution['standard_error']:.2f} points: a difference under "
                     f"{100 * resolution['detectable_difference']:.1f} points from a fixed value would go "
                     "unnoticed (test at 0.05, 80% power; paired comparisons are usually tighter).")
    return lines


def audit_text(facts: dict) -> str:
    """A block to read in half a minute on a terminal."""
    return "\n".join([f"{facts['domain']} audit ({facts['source']})", *_table(facts), "", *_sentences(facts)])


def audit_markdown(facts: dict) -> str:
    """A report section: the split table and the findings in a few sentences."""
    return "\n".join([f"### Data audit: {facts['domain']}", "", *_table(facts), "", " ".join(_sentences(facts))])
