"""Early stopping on validation AUC, shared by the torch baselines (sequential and CTR models).

Keeps the model state of the epoch with the best validation AUC and stops after `patience` epochs
without a better one. Without validation samples there is nothing to stop on: every epoch runs and
the last one is kept. A validation set of one class has no AUC: a one-line error says so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from bench.metrics import auc


class EarlyStopping:
    def __init__(self, labels: Sequence[int], patience: int, method: str) -> None:
        self.labels, self.patience, self.method = list(labels), patience, method
        self.best_auc, self.best_epoch, self.epochs_run = -1.0, 0, 0
        self._best_state: dict[str, Any] | None = None

    def stop_after(self, epoch: int, model: Any, valid_scores: Callable[[], Sequence[float]]) -> bool:
        """Record epoch `epoch` (its model, its validation scores, computed only if there is a
        validation set); True when training should stop."""
        self.epochs_run = epoch
        if not self.labels:
            self.best_epoch = epoch
            return False
        valid_auc = auc(self.labels, valid_scores(), where="the validation set",
                        fix=f"{self.method} stops early on its AUC: give the domain's validation split both labels")
        if valid_auc > self.best_auc:
            self.best_auc, self.best_epoch, self._best_state = valid_auc, epoch, copy.deepcopy(model.state_dict())
            return False
        return epoch - self.best_epoch >= self.patience

    def restore_best(self, model: Any) -> dict[str, Any]:
        """Load the best epoch's state into `model` (the last one without validation); what to record."""
        if self._best_state is not None:
            model.load_state_dict(self._best_state)
        return {"best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
                "valid_auc": self.best_auc if self.labels else None}
