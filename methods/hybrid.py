"""Hybrids: the obvious things a user tries first when an LM alone does not beat like-ratio.

`stack` is a logistic regression, fitted on the K shots, over scores the suite already has:
like-ratio (the sample's own history), the target's like rate in the pool's logs (popularity), mf's
logit, and optionally an LM's zero-shot log-odds. The shots are pool samples, so the log features
would see their own labels: before the features are built, every (user, item) pair of a shot's target
is removed from the pool (`bench.data.splits.pool_without`: the shot's own sample, and the entries of
that user's other windows where the item sits in the history with the same liked flag). Those reduced logs then serve the shots and the
scored samples alike, so both get features from the same models.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bench.data.samples import Sample
from bench.data.splits import pool_without
from bench.errors import BenchError
from bench.lm.models import DEFAULT_MODEL, PRECISION_CHOICES, PRECISIONS, key_precision
from bench.run import registry
from bench.run.registry import FitContext, Method, check_parameters, is_positive, register

FEATURES = ("like_ratio", "item_rate", "mf")


@register("stack")
class Stacked(Method):
    """Stacked hybrid: logistic regression on the K shots over like-ratio, popularity, mf (and an LM's log-odds).

    Data it sees: the K shots with their labels (to fit the regression); the train pool's interaction
    logs less every (user, item) pair of a shot's target, through popularity and mf (so no shot's
    feature sees its own label); with `lm=true`, zero-shot log P(Yes) - log P(No) of the shots and of
    the scored samples. Never validation or test labels. Features are standardised on the shots; the
    regression is scikit-learn's L2 logistic regression. Score = its logit. Item ids do not carry over
    to another domain (popularity, mf), so cross-domain cells are not applicable.

    Parameters
    ----------
    c : float
        The regression's inverse regularisation strength, scikit-learn's C (> 0; smaller: stronger L2).
    lm : bool
        Add a fourth feature, the LM's zero-shot log P(Yes) - log P(No) (runs the LM on the shots and the
        scored samples).
    lm_model : str
        The LM of that feature (needs lm=true): an embedded model name, a local folder or a hub id.
    precision : str
        The LM's dtype: `auto` (float32 on a CPU, bfloat16 on a GPU), `float32` or `bfloat16` (with lm=true).
    """

    family = "collaborative"
    reads = frozenset({"sample", "shots", "pool"})
    cross_domain = False
    # The LM feature's precision, added after the first stack cells: float32 stays out of the key; any other
    # enters it through `precision(device)` (bfloat16 on a GPU too, where `auto` means it).
    key_neutral_defaults = {"precision": "float32"}

    def __init__(self, *, c: float = 1.0, lm: bool = False, lm_model: str = DEFAULT_MODEL,
                 precision: str = "auto") -> None:
        check_parameters("stack", [("c", c, is_positive(c), "a number > 0 (smaller: stronger regularisation)"),
                                   ("precision", precision, precision in PRECISIONS, PRECISION_CHOICES)])
        if lm_model != DEFAULT_MODEL and not lm:  # it would change the key, not the result
            raise BenchError("stack: lm_model names the LM of the log-odds feature; set lm=true too "
                             "(--param stack.lm=true) or leave lm_model at its default")
        if precision == "bfloat16" and not lm:
            raise BenchError("stack: precision is that of the LM feature; set lm=true too "
                             "(--param stack.lm=true) or leave precision at auto")
        self.c, self.lm, self.lm_model, self.lm_precision = c, lm, lm_model, precision
        self._parts: dict[str, Method] = {}
        self._mean = self._scale = self._coef = None
        self._intercept = 0.0
        self._extra: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Every parameter, but `precision` at `auto` (the runner records the LM's where it is not float32 on
        a CPU, `precision(device)`); precision() is a method, so the parameter is kept as lm_precision."""
        config = {name: getattr(self, "lm_precision" if name == "precision" else name) for name in self.parameters()}
        if config["precision"] == "auto":
            del config["precision"]
        return config

    def precision(self, device: str) -> str | None:
        return key_precision(device, self.lm_precision) if self.lm else None

    def _features(self, samples: list[Sample]) -> np.ndarray:
        columns = [self._parts["like-ratio"].score(samples), self._parts["popularity"].score(samples),
                   self._parts["mf"].score(samples)]
        if self.lm:
            columns.append(self._parts["zero-shot"].score(samples))
        return np.asarray(columns, dtype=np.float64).T

    def fit(self, train: list[Sample], valid: list[Sample], context: FitContext) -> None:
        from sklearn.linear_model import LogisticRegression

        if len({s.label for s in train}) < 2:
            raise BenchError(f"stack: the {len(train)} shots hold one class only, so no regression can be fitted; "
                             "use a larger K or another seed")
        reduced = dataclasses.replace(context, train_pool=pool_without(context.train_pool, train))
        self._parts = {"like-ratio": registry.build("like-ratio", {}), "popularity": registry.build("popularity", {}),
                       "mf": registry.build("mf", {})}
        if self.lm:
            lm_params = {"model": self.lm_model, "score": "logodds", "precision": self.lm_precision}
            self._parts["zero-shot"] = registry.build("zero-shot", lm_params)
        for part in self._parts.values():
            part.fit([], [], reduced)  # none of them learns from shots or validation samples
        x = self._features(train)
        self._mean, self._scale = x.mean(axis=0), x.std(axis=0)
        self._scale[self._scale == 0] = 1.0
        model = LogisticRegression(C=self.c).fit((x - self._mean) / self._scale, [s.label for s in train])
        self._coef, self._intercept = model.coef_[0], float(model.intercept_[0])
        names = [*FEATURES, "lm_logodds"][: x.shape[1]]
        self._extra = {"coefficients": dict(zip(names, map(float, self._coef), strict=True)),
                       "shots": len(train),
                       "pool_samples_kept": len(reduced.train_pool), "pool_samples": len(context.train_pool)}

    def score(self, samples: list[Sample]) -> list[float]:
        if self._coef is None:
            raise BenchError("stack: call fit before score")
        x = (self._features(samples) - self._mean) / self._scale
        return (x @ self._coef + self._intercept).tolist()

    def extra_record(self) -> dict[str, Any]:
        return dict(self._extra)
