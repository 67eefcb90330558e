"""Each workaround in bench.recbole_compat, with a control showing the problem it works around is real.

The import-time side effects (NumPy 2 names, anomaly mode) only show in a fresh interpreter, so those
checks run in a subprocess."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from bench import recbole_compat

GRU4REC_SETTINGS = {"MAX_ITEM_LIST_LENGTH": 10, "loss_type": "CE", "train_neg_sample_args": None}


def _fresh_python(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_plain_recbole_turns_on_anomaly_mode_and_its_config_breaks_on_numpy_2():
    """The control: importing the models leaks anomaly mode; building a Config fails on NumPy 2."""
    assert int(np.__version__.split(".")[0]) >= 2, "this check is about NumPy 2"
    result = _fresh_python(
        "import json, torch\n"
        "import recbole.model.sequential_recommender\n"
        "anomaly = torch.is_anomaly_enabled()\n"
        "from recbole.config import Config\n"
        "try:\n"
        f"    Config(model='GRU4Rec', dataset='tallrec-fewshot', config_dict={GRU4REC_SETTINGS!r})\n"
        "    error = None\n"
        "except AttributeError as exc:\n"
        "    error = str(exc)\n"
        "print(json.dumps({'error': error, 'anomaly': anomaly}))\n"
    )
    assert result["error"] is not None and "float_" in result["error"]
    assert result["anomaly"] is True


def test_layer_imports_models_builds_config_and_keeps_anomaly_mode_off():
    result = _fresh_python(
        "import json, torch\n"
        "from bench import recbole_compat\n"
        "models = recbole_compat.sequential_models()\n"
        f"config = recbole_compat.make_config('SASRec', 'tallrec-fewshot', {GRU4REC_SETTINGS!r})\n"
        "print(json.dumps({'models': sorted(models), 'anomaly': torch.is_anomaly_enabled(),\n"
        "                  'hidden_size': config['hidden_size']}))\n"
    )
    assert result == {"models": ["Caser", "GRU4Rec", "SASRec"], "anomaly": False, "hidden_size": 64}


def test_layer_keeps_anomaly_mode_on_when_the_process_had_it_on():
    torch.autograd.set_detect_anomaly(True)
    try:
        recbole_compat.sequential_models()
        assert torch.is_anomaly_enabled()
    finally:
        torch.autograd.set_detect_anomaly(False)


def test_numpy_aliases_are_the_numpy_2_types():
    recbole_compat.numpy_aliases()
    assert np.float_ is np.float64 and np.complex_ is np.complex128 and np.unicode_ is np.str_


def _raw_config(settings: dict):
    recbole_compat.sequential_models()
    from recbole.config import Config

    return Config(model="GRU4Rec", dataset="tallrec-fewshot", config_dict=settings)


def test_plain_config_overwrites_cuda_visible_devices_and_reads_the_command_line(monkeypatch):
    """The control for the two Config side effects that make_config contains."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.setattr(sys, "argv", ["bench", "--embedding_size=7"])
    config = _raw_config(GRU4REC_SETTINGS)
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert config["embedding_size"] == 7


@pytest.mark.parametrize("cuda_visible", ["3", None])
def test_make_config_leaves_environment_and_command_line_alone(monkeypatch, cuda_visible):
    import os

    if cuda_visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", cuda_visible)
    monkeypatch.setattr(sys, "argv", ["bench", "--embedding_size=7"])
    config = recbole_compat.make_config("GRU4Rec", "tallrec-fewshot", GRU4REC_SETTINGS)
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == cuda_visible
    assert config["embedding_size"] == 64  # RecBole's default for GRU4Rec, not the command line's 7
    assert str(config["device"]) == "cpu"
    assert sys.argv == ["bench", "--embedding_size=7"]


def test_checkpoint_with_a_pickled_config_needs_the_layer_to_load(tmp_path):
    config = recbole_compat.make_config("GRU4Rec", "tallrec-fewshot", GRU4REC_SETTINGS)
    path = tmp_path / "model.pth"
    torch.save({"config": config, "state_dict": {"w": torch.ones(2)}}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # torch >= 2.6: weights_only=True refuses RecBole's Config
    loaded = recbole_compat.load_checkpoint(path)
    assert loaded["config"]["model"] == "GRU4Rec"
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(2))
