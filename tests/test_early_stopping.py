"""Early stopping on validation AUC: the best epoch is kept, patience counts from it, and a validation
set without both labels either runs every epoch (empty) or is a one-line error (one class)."""

from __future__ import annotations

import pytest
import torch

from bench.early_stopping import EarlyStopping
from bench.errors import BenchError

LABELS = [0, 0, 1, 1]


def _run(per_epoch_scores: list[list[float]], patience: int, labels=LABELS):
    model = torch.nn.Linear(1, 1)
    stopping = EarlyStopping(labels, patience, "toy")
    for epoch, scores in enumerate(per_epoch_scores, start=1):
        with torch.no_grad():
            model.weight.fill_(epoch)  # the state names its epoch
        if stopping.stop_after(epoch, model, lambda scores=scores: scores):
            break
    return model, stopping.restore_best(model)


def test_keeps_the_best_epoch_and_stops_after_patience_epochs_without_a_better_one():
    model, extra = _run([[0, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]], patience=2)
    assert extra == {"best_epoch": 2, "epochs_run": 4, "valid_auc": 1.0}
    assert model.weight.item() == 2.0  # epoch 2's state is back


def test_an_empty_validation_set_runs_every_epoch_and_keeps_the_last():
    model, extra = _run([[], [], []], patience=1, labels=[])
    assert extra == {"best_epoch": 3, "epochs_run": 3, "valid_auc": None}
    assert model.weight.item() == 3.0


def test_a_validation_set_of_one_class_is_a_one_line_error_naming_it():
    with pytest.raises(BenchError, match="in the validation set; toy stops early") as error:
        _run([[0.1, 0.2]], patience=1, labels=[1, 1])
    assert "\n" not in str(error.value) and "--test-size" not in str(error.value)
