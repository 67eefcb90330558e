"""What the methods that train a RecBole model share (methods/sequential.py, methods/ctr.py): their
training parameters and checks, the seeded and thread-bounded fit, the epoch loop with early stopping
on validation AUC, scoring in batches without gradients, the device's precision in the key, and
RecBole's checkpoint.

A subclass builds its vocabulary, model and tensors in `_fit` and trains there with `_train`, saying
how an epoch splits into batches (`_batches`), what a batch's loss is (`_loss`), what gives a logit
(`_forward`) and how samples become tensors at score time (`_score_tensors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from bench.data.samples import Sample
from bench.early_stopping import EarlyStopping
from bench.errors import BenchError
from bench.recbole_compat import device_precision, torch_threads
from bench.run.registry import FitContext, Method, check_parameters, is_count, is_positive


class RecBoleMethod(Method):
    """Base class; subclasses name the RecBole model and keep their own keyword-only `__init__` (the
    parameters are read from its signature), passing the shared ones and their own checks here, and say
    which parameters are operational (whether threads change their scores is per model family).

    Parameters
    ----------
    epochs : int
        Most training epochs (>= 1); early stopping on validation AUC may end training sooner.
    patience : int
        Epochs without a better validation AUC before training stops (>= 1); the best epoch is kept.
    batch_size : int
        Training rows per Adam step; an epoch is the shuffled rows cut into batches of this many.
    learning_rate : float
        Adam's learning rate (> 0).
    threads : int
        CPU threads torch uses while fitting and scoring (0: torch's default); lower it to share cores.
    save_model : bool
        Also save the trained model as a RecBole checkpoint (model.pth) in the cell's artifact folder.
    """

    recbole_model: ClassVar[str] = ""
    min_batch_size: ClassVar[int] = 1
    #: RecBole config entries recorded as `model_settings` (those the model sets).
    setting_names: ClassVar[tuple[str, ...]] = ()
    reads = frozenset({"sample", "shots", "pool"})  # the pool only through pretraining or pool_logs
    cross_domain = False

    def __init__(self, *, epochs: int, patience: int, batch_size: int, learning_rate: float, threads: int,
                 save_model: bool, checks: Sequence[tuple[str, Any, bool, str]] = ()) -> None:
        least = self.min_batch_size
        check_parameters(self.name or type(self).__name__, [
            ("epochs", epochs, is_count(epochs, 1), "an integer >= 1"),
            ("patience", patience, is_count(patience, 1), "an integer >= 1"),
            ("batch_size", batch_size, is_count(batch_size, least), f"an integer >= {least}"),
            ("learning_rate", learning_rate, is_positive(learning_rate), "a number > 0"),
            *checks,
            ("threads", threads, is_count(threads, 0), "an integer >= 0 (0: torch's default)"),
        ])
        self.epochs, self.patience, self.batch_size, self.learning_rate = epochs, patience, batch_size, learning_rate
        self.threads, self.save_model = threads, save_model
        self._model = None
        self._config = None
        self._device = "cpu"
        self._extra: dict[str, Any] = {}

    # ---- what a subclass says --------------------------------------------------------------------
    def _fit(self, train: list[Sample], valid: list[Sample], context: FitContext, generator) -> None:
        """Build the vocabulary and model (`self._model`, `self._config`) and train it (`_train`)."""
        raise NotImplementedError

    def _batches(self, n_rows: int, generator) -> list[Any]:
        """One epoch's batches: index tensors into the training tensors."""
        raise NotImplementedError

    def _loss(self, batch):
        """The loss of one batch (an `Interaction` of the training tensors)."""
        raise NotImplementedError

    def _forward(self, interaction):
        """The logit of each row of `interaction`: the score."""
        raise NotImplementedError

    def _score_tensors(self, samples: list[Sample]) -> dict[str, Any]:
        raise NotImplementedError

    def _checkpoint_tables(self) -> dict[str, Any]:
        """The id tables saved beside the model state (to map ids back to items and users)."""
        raise NotImplementedError

    # ---- shared ----------------------------------------------------------------------------------
    def fit(self, train: list[Sample], valid: list[Sample], context: FitContext) -> None:
        """Seeded from the cell's seed without moving the process's RNG state, on `threads` threads."""
        import torch

        if not train:
            raise BenchError(f"{self.name} needs at least one training shot; choose K >= 1")
        self._device = context.device
        cuda = [torch.device(context.device).index or 0] if context.device.startswith("cuda") else []
        with torch_threads(self.threads), torch.random.fork_rng(devices=cuda):
            torch.manual_seed(context.seed)
            generator = torch.Generator().manual_seed(context.seed)
            self._extra = {"recbole_model": self.recbole_model}
            self._fit(train, valid, context, generator)
        if self.save_model:
            self._save(context)

    def _train(self, tensors: dict[str, Any], n_rows: int, valid: list[Sample], valid_tensors: dict[str, Any],
               epochs: int, generator) -> None:
        """Adam on `_loss` over `_batches` for at most `epochs` epochs; keeps the epoch with the best
        validation AUC (early_stopping)."""
        import torch

        optimizer = torch.optim.Adam(self._model.parameters(), lr=self.learning_rate)
        stopping = EarlyStopping([s.label for s in valid], self.patience, self.name)
        for epoch in range(1, epochs + 1):
            self._model.train()
            for batch in self._batches(n_rows, generator):
                optimizer.zero_grad()
                self._loss(self._interaction(tensors, batch)).backward()
                optimizer.step()
            if stopping.stop_after(epoch, self._model, lambda: self._logits(valid_tensors).tolist()):
                break
        self._extra.update(stopping.restore_best(self._model))

    def _interaction(self, tensors: dict[str, Any], rows=None):
        from bench.recbole_compat import interaction

        return interaction(tensors, rows, self._device)

    def _logits(self, tensors: dict[str, Any]) -> np.ndarray:
        from bench.recbole_compat import batched_logits

        return batched_logits(self._forward, self._model, tensors, self._device)

    def _model_settings(self) -> dict[str, Any]:
        return {n: self._config[n] for n in self.setting_names if self._config[n] is not None}

    def _save(self, context: FitContext) -> None:
        """RecBole's checkpoint layout (Config pickled inside): read back with recbole_compat.load_checkpoint."""
        from bench.recbole_compat import save_checkpoint

        path = save_checkpoint(context.artifact_dir, self._config, self._model, self._extra["best_epoch"],
                               self._extra["valid_auc"], **self._checkpoint_tables())
        self._extra["checkpoint"] = str(path)

    def score(self, samples: list[Sample]) -> list[float]:
        if self._model is None:
            raise BenchError(f"{self.name}: call fit before score")
        with torch_threads(self.threads):
            return self._logits(self._score_tensors(samples)).tolist()

    def precision(self, device: str) -> str | None:
        return device_precision(device)

    def extra_record(self) -> dict[str, Any]:
        return dict(self._extra)
