"""The sample: a user's recent history (items with liked flags), a target item and a label.

Everything downstream (prompts, methods, metrics) works on these objects; prompt text is
rendered from them by `bench.data.prompts`, never stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, is_dataclass


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
    `user` is whose question it is: several samples of one user are not independent (the movie
    test set is 1000 samples from 16 users), so statistics resample users, not samples. A source
    without user ids (the authors' book files) gives each sample a user of its own.
    `timestamp` is when the target interaction happened, where the source says (movie), for audits
    of how a split sits in time. `item_noun` is what the prompt calls an item ("movie", "product"); it
    comes from the domain's card, and empty means the domain's name. `past` is the user's longer past
    before the target, oldest first (up to the card's `recipe.past` items, the `history` among them),
    where the source is a log; empty for the released JSON files, which hold only the history.
    `note` is an extra prompt line an LM option adds in flight (a collaborative hint); never stored.
    """

    uid: str
    domain: str
    history: tuple[HistoryItem, ...]
    target: Item
    label: int
    user: str = ""
    timestamp: int | None = None
    item_noun: str = ""
    past: tuple[HistoryItem, ...] = ()
    note: str = ""

    @property
    def noun(self) -> str:
        return self.item_noun or self.domain

    @property
    def liked_items(self) -> list[Item]:
        return [h.item for h in self.history if h.liked]

    @property
    def disliked_items(self) -> list[Item]:
        return [h.item for h in self.history if not h.liked]

    @property
    def user_key(self) -> str:
        """Whose sample, unique across domains; a sample without a user id is its own user."""
        return f"{self.domain}:{self.user or self.uid}"

    def interactions(self) -> list[tuple[str, bool]]:
        """(item id, liked) of each history entry, then of the target with its label: what a pool
        sample tells a method that learns from logs. It reads the label: for pool samples only."""
        return [(h.item.id, h.liked) for h in self.history] + [(self.target.id, bool(self.label))]


def item_key(domain: str, item_id: str) -> str:
    """An item id unique across domains (the ids of two domains may coincide)."""
    return f"{domain}:{item_id}"


#: Sample fields the fingerprint leaves out: they were added after results were keyed by it, and
#: none changes what a method sees by default (a movie uid already names its user and position; `past`
#: comes from the same checked log as the history, and a method reads it only under an option that is
#: part of its cell key; `note` exists only in flight).
UNFINGERPRINTED = ("user", "timestamp", "past", "note")


def _plain(value):
    """A field value as `dataclasses.asdict` gives it (items and history entries spelled out: they are
    most of the work)."""
    if isinstance(value, Item):
        return {"id": value.id, "title": value.title, "author": value.author}
    if isinstance(value, HistoryItem):
        return {"item": _plain(value.item), "liked": value.liked}
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def fingerprint(samples: list[Sample]) -> str:
    """A short sha256 over the samples' content (history, target, label, ids): two runs on equal
    data share it."""
    digest = hashlib.sha256()
    kept = [f.name for f in fields(Sample) if f.name not in UNFINGERPRINTED]
    for sample in samples:
        # Field by field, so the long `past` is never converted only to be dropped.
        content = {name: _plain(getattr(sample, name)) for name in kept}
        if content["item_noun"] in ("", sample.domain):  # the noun was added later: keys of old data hold
            del content["item_noun"]
        digest.update(json.dumps(content, sort_keys=True).encode())
    return digest.hexdigest()[:16]
