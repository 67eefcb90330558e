"""Logistic matrix factorisation, the CoLLM paper's MF baseline (Zhang et al., arXiv 2310.19488).

p(like) = sigmoid(global + b_u + b_i + p_u . q_i), fitted on the (user, item, liked) triples of the
train pool's interaction logs, in numpy (full-batch Adam, exact and deterministic given the seed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.data.samples import Sample, item_key
from bench.errors import BenchError
from bench.run.registry import FitContext, Method, check_parameters, is_count, is_positive, register

NEWTON_STEPS = 8
# "unseen": a scored sample's user is folded in from its history only when the pool lacks that user;
# "always": every scored sample is, so its score reads its own recent history, not the user's pool-era
# vector (on movie-temporal the test users are pool users whose recent history the pool cannot hold).
FOLD_IN = ("unseen", "always")
RIDGE_FLOOR = 1e-6  # keeps the fold-in's Newton system solvable when l2 is 0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow


def _triples(samples: list[Sample]) -> dict[tuple[str, str], bool]:
    """(user key, item key) -> liked; a pair seen again overwrites the earlier one (the last one
    in pool order, within a sample its history first and then its target, wins)."""
    pairs: dict[tuple[str, str], bool] = {}
    for s in samples:
        for item_id, liked in s.interactions():
            pairs[(s.user_key, item_key(s.domain, item_id))] = liked
    return pairs


@register("mf")
class MatrixFactorization(Method):
    """Logistic matrix factorisation (CoLLM's MF baseline, arXiv 2310.19488) on the train pool's logs.

    Data it sees: it reads the train pool's interaction logs, as popularity does (every history entry
    and labelled target of the pool samples, as (user, item, liked) triples, one per (user, item) pair:
    the last one in pool order wins), and with finetune_shots the K shots again; never the validation
    set. Loss: summed BCE + l2 x (squared norm of every bias and factor), full-batch Adam (defaults
    chosen on movie validation AUC). A scored sample whose user was not in the pool (every test user
    of movie and book) is folded in: b_u and p_u are fitted to that sample's own history (items and
    liked flags; item terms fixed, the same ridge) by Newton steps; its label is never read. An item
    not in the pool has zero item terms: as a target it scores global + user terms, in a history it
    still informs b_u. Score = the logit. Item ids do not carry over to another domain: cross-domain
    cells are not applicable.

    Parameters
    ----------
    dim : int
        Latent factors per user and per item (>= 1).
    epochs : int
        Full-batch Adam steps on the pool's triples (>= 1), and as many again on the shots with
        finetune_shots.
    lr : float
        Adam's learning rate (> 0).
    l2 : float
        Ridge weight on every bias and factor (>= 0), in training and in the fold-in; larger shrinks harder.
    finetune_shots : bool
        After the pool, also train on the K shots' (user, item, liked) triples.
    fold_in : str
        `unseen`: fold in a scored sample's user only when the pool lacks that user; `always`: every scored
        sample, pool users too (its score then reads its own recent history, not a pool-era vector).
    """

    family = "collaborative"
    reads = frozenset({"sample", "shots", "pool"})
    cross_domain = False
    key_neutral_defaults = {"fold_in": "unseen"}  # added after the first mf cells were recorded

    def __init__(self, *, dim: int = 16, epochs: int = 200, lr: float = 0.05, l2: float = 3.0,
                 finetune_shots: bool = False, fold_in: str = "unseen") -> None:
        if fold_in not in FOLD_IN:
            raise BenchError(f"mf: bad fold_in={fold_in!r}; choose one of {', '.join(FOLD_IN)} "
                             "(--param mf.fold_in=always)")
        self.fold_in = fold_in
        check_parameters("mf", [("dim", dim, is_count(dim, 1), "an integer >= 1"),
                                ("epochs", epochs, is_count(epochs, 1), "an integer >= 1"),
                                ("lr", lr, is_positive(lr), "a number > 0"),
                                ("l2", l2, is_positive(l2) or l2 == 0, "a number >= 0")])
        self.dim, self.epochs, self.lr, self.l2, self.finetune_shots = dim, epochs, lr, l2, finetune_shots
        self._users: dict[str, int] = {}
        self._items: dict[str, int] = {}
        self._w: dict[str, np.ndarray] = {}
        self._extra: dict[str, Any] = {}

    def fit(self, train: list[Sample], valid: list[Sample], context: FitContext) -> None:
        pool = _triples(context.train_pool)
        shots = _triples(train) if self.finetune_shots else {}
        self._users = {u: n for n, u in enumerate(dict.fromkeys(u for u, _ in [*pool, *shots]))}
        self._items = {i: n for n, i in enumerate(dict.fromkeys(i for _, i in [*pool, *shots]))}
        rng = np.random.default_rng(context.seed)
        rate = float(np.clip(np.mean(list(pool.values())) if pool else 0.5, 0.01, 0.99))
        self._w = {"g": np.array([np.log(rate / (1 - rate))]), "bu": np.zeros(len(self._users)),
                   "bi": np.zeros(len(self._items)), "P": rng.normal(0, 0.1, (len(self._users), self.dim)),
                   "Q": rng.normal(0, 0.1, (len(self._items), self.dim))}
        self._extra = {"pool_pairs": len(pool), "users": len(self._users), "items": len(self._items),
                       "pool_loss": self._adam(pool)}
        if shots:
            self._extra["shots_loss"] = self._adam(shots)

    def _adam(self, pairs: dict[tuple[str, str], bool]) -> float:
        """Full-batch Adam on (summed BCE + ridge) / n; returns the final mean BCE."""
        u = np.array([self._users[k] for k, _ in pairs], dtype=np.int64)
        i = np.array([self._items[k] for _, k in pairs], dtype=np.int64)
        y = np.array(list(pairs.values()), dtype=np.float64)
        w, n = self._w, max(len(y), 1)
        m = {k: np.zeros_like(v) for k, v in w.items()}
        v2 = {k: np.zeros_like(v) for k, v in w.items()}
        z = np.zeros(0)
        for step in range(1, self.epochs + 1):
            z = w["g"][0] + w["bu"][u] + w["bi"][i] + np.einsum("nd,nd->n", w["P"][u], w["Q"][i])
            r = _sigmoid(z) - y
            grad = {"g": np.array([r.sum()]), "bu": np.bincount(u, r, len(w["bu"])),
                    "bi": np.bincount(i, r, len(w["bi"])), "P": np.zeros_like(w["P"]), "Q": np.zeros_like(w["Q"])}
            np.add.at(grad["P"], u, r[:, None] * w["Q"][i])
            np.add.at(grad["Q"], i, r[:, None] * w["P"][u])
            for k in ("bu", "bi", "P", "Q"):
                grad[k] += 2 * self.l2 * w[k]
            for k, g in grad.items():
                g /= n
                m[k] = 0.9 * m[k] + 0.1 * g
                v2[k] = 0.999 * v2[k] + 0.001 * g * g
                w[k] -= self.lr * (m[k] / (1 - 0.9**step)) / (np.sqrt(v2[k] / (1 - 0.999**step)) + 1e-8)
        return float(np.mean(np.logaddexp(0, z) - y * z)) if len(y) else float("nan")

    def _fold_in(self, samples: list[Sample]) -> np.ndarray:
        """(b_u, p_u) per sample from its history alone: ridge logistic regression, item terms fixed."""
        h = max((len(s.history) for s in samples), default=0)
        x = np.zeros((len(samples), h, self.dim + 1))
        offset, y, mask = np.zeros((len(samples), h)), np.zeros((len(samples), h)), np.zeros((len(samples), h))
        for row, s in enumerate(samples):
            for col, entry in enumerate(s.history):
                item = self._items.get(item_key(s.domain, entry.item.id))
                # An item the pool never saw has zero item terms, as an unknown target has: it still
                # tells the user's bias.
                x[row, col, 0], offset[row, col] = 1.0, self._w["g"][0]
                if item is not None:
                    x[row, col, 1:] = self._w["Q"][item]
                    offset[row, col] += self._w["bi"][item]
                y[row, col], mask[row, col] = entry.liked, 1.0
        theta = np.zeros((len(samples), self.dim + 1))
        ridge = 2 * max(self.l2, RIDGE_FLOOR) * np.eye(self.dim + 1)
        for _ in range(NEWTON_STEPS):
            p = _sigmoid(offset + np.einsum("nhd,nd->nh", x, theta))
            grad = np.einsum("nhd,nh->nd", x, (p - y) * mask) + ridge[0, 0] * theta
            hess = np.einsum("nhd,nh,nhe->nde", x, p * (1 - p) * mask, x) + ridge
            theta -= np.linalg.solve(hess, grad[..., None])[..., 0]
        return theta

    def score(self, samples: list[Sample]) -> list[float]:
        if not self._w:
            raise BenchError("mf: call fit before score")
        users = np.full((len(samples), self.dim + 1), np.nan)
        for row, s in enumerate(samples):
            known = self._users.get(s.user_key) if self.fold_in == "unseen" else None
            if known is not None:
                users[row] = np.concatenate([[self._w["bu"][known]], self._w["P"][known]])
        unseen = np.isnan(users[:, 0])
        if unseen.any():
            users[unseen] = self._fold_in([s for s, new in zip(samples, unseen, strict=True) if new])
        items = np.zeros((len(samples), self.dim + 1))  # (b_i, q_i); zeros for an item not in the pool
        unknown = 0
        for row, s in enumerate(samples):
            item = self._items.get(item_key(s.domain, s.target.id))
            if item is None:
                unknown += 1
            else:
                items[row] = np.concatenate([[self._w["bi"][item]], self._w["Q"][item]])
        self._extra.update(folded_in_last_scored=int(unseen.sum()), unknown_targets_last_scored=unknown)
        logits = self._w["g"][0] + users[:, 0] + items[:, 0] + np.einsum("nd,nd->n", users[:, 1:], items[:, 1:])
        return logits.tolist()

    def extra_record(self) -> dict[str, Any]:
        return dict(self._extra)
