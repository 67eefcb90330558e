"""Training-free sanity baselines. The paper has none; every table should show them.

`like-ratio` alone reaches AUC 0.726 on the movie test set and 0.696 on book, level with or above
the paper's TALLRec row: a benchmark that omits it misleads.
"""

from __future__ import annotations

import numpy as np

from bench.data.item_rates import ItemRates
from bench.data.samples import Sample
from bench.run.registry import FitContext, Method, check_parameters, is_positive, register


@register("random")
class RandomScores(Method):
    """Uniform random scores from the cell's seed: the AUC-0.5 floor and a check of the harness."""

    training_free = True
    family = "training-free"
    reads = frozenset()

    def __init__(self) -> None:
        self._seed = 0

    def fit(self, train: list[Sample], valid: list[Sample], context: FitContext) -> None:
        self._seed = context.seed

    def score(self, samples: list[Sample]) -> list[float]:
        return np.random.default_rng(self._seed).random(len(samples)).tolist()


@register("like-ratio")
class LikeRatio(Method):
    """Share of liked items in the sample's own history (0.5 for an empty history).

    Sees nothing but the sample being scored: no shots, no logs.
    """

    training_free = True
    family = "training-free"
    reads = frozenset({"sample"})

    def __init__(self) -> None:
        pass

    def score(self, samples: list[Sample]) -> list[float]:
        return [
            sum(h.liked for h in s.history) / len(s.history) if s.history else 0.5 for s in samples
        ]


@register("popularity")
class Popularity(Method):
    """How often the target item is liked in the train pool's interaction logs.

    Data it sees: every (item, liked) pair in the train pool of the train domain(s), that is the
    histories and labelled targets of the samples the K shots are drawn from (movie: the 8000
    samples before valid and test; book: the carved pool). Never validation or test labels.
    Score = (likes + prior * like_rate) / (count + prior), a smoothed like rate; items never seen
    get the pool's overall like rate. Item ids do not carry over to another domain, so cells that
    test on a domain it was not fitted on are reported as not applicable.

    Parameters
    ----------
    prior : float
        Smoothing pseudo-count (> 0): each item starts as `prior` interactions at the pool's overall
        like rate; larger pulls rarely seen items harder towards that rate.
    """

    training_free = True
    family = "training-free"
    reads = frozenset({"sample", "pool"})
    cross_domain = False

    def __init__(self, *, prior: float = 2.0) -> None:
        # 0 would divide by zero on a target the pool never saw.
        check_parameters("popularity", [("prior", prior, is_positive(prior), "a number > 0")])
        self.prior = prior
        self._rates = ItemRates([])

    def fit(self, train: list[Sample], valid: list[Sample], context: FitContext) -> None:
        self._rates = ItemRates(context.train_pool)

    def score(self, samples: list[Sample]) -> list[float]:
        scores = []
        for sample in samples:
            likes, count = self._rates.of(sample)
            scores.append((likes + self.prior * self._rates.base_rate) / (count + self.prior))
        return scores
