"""The one place where RecBole 1.2.1 is made to work with today's stack (docs/stack.md).

Go through this module, never `import recbole...` directly. Each workaround below has a test in
tests/test_recbole_compat.py that fails without it:

- NumPy 2 removed `np.float_`, `np.complex_` and `np.unicode_`, which RecBole's
  `Config.compatibility_settings` reads, so no Config can be built: `numpy_aliases()` puts them back
  (as the NumPy 2 types they stood for).
- Importing `recbole.model.sequential_recommender` switches on autograd anomaly detection for the
  whole process (sine.py): 1.5-1.8x slower training for every model. `sequential_models()` restores
  the setting the process had before the import.
- `Config` overwrites `CUDA_VISIBLE_DEVICES` for the whole process (from `gpu_id`) and parses
  `sys.argv` for `--key=value` pairs (so the `bench` command line would leak into model settings):
  `make_config()` builds it with an empty command line and puts the environment variable back.
- torch >= 2.6 loads with `weights_only=True`, but RecBole checkpoints pickle their `Config`:
  `load_checkpoint()` loads them with `weights_only=False` (only for files this tool wrote).
- pandas 3 silently skips RecBole's NaN filling; that lives in RecBole's `Dataset`, which this project
  does not use (it feeds `Interaction` batches to the models itself), and pyproject pins `pandas<3`.

It also holds what methods/sequential.py and methods/ctr.py share to drive RecBole models without a
RecBole `Dataset` (not workarounds, so without such tests): the history length and padding index,
`torch_threads`, `FieldTable` (the Dataset stand-in the model constructors read), and the
`interaction` / `batched_logits` / checkpoint helpers.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: NumPy 1 names RecBole 1.2.1 needs, and the NumPy 2 types they stood for.
NUMPY_ALIASES = {"float_": "float64", "complex_": "complex128", "unicode_": "str_"}

SEQUENTIAL_MODELS = ("GRU4Rec", "Caser", "SASRec")
#: History slots the RecBole models get (the prompt's 10 items), and RecBole's padding index.
MAX_HISTORY = 10
PADDING = 0
#: The click-through-rate models of methods/ctr.py, and the RecBole package each one lives in.
CONTEXT_MODELS = {"DeepFM": "context_aware_recommender", "DIN": "sequential_recommender"}


def numpy_aliases() -> None:
    """Add the NumPy 1 aliases RecBole uses, where this NumPy lacks them (a no-op on NumPy 1)."""
    import numpy as np

    for old, new in NUMPY_ALIASES.items():
        if not hasattr(np, old):
            setattr(np, old, getattr(np, new))


def sequential_models() -> dict[str, type]:
    """RecBole's GRU4Rec, Caser and SASRec classes, imported without the anomaly-mode side effect."""
    import torch

    numpy_aliases()
    anomaly_before = torch.is_anomaly_enabled()
    from recbole.model import sequential_recommender as seq  # sine.py: set_detect_anomaly(True)

    torch.autograd.set_detect_anomaly(anomaly_before)
    return {name: getattr(seq, name) for name in SEQUENTIAL_MODELS}


def context_models() -> dict[str, type]:
    """RecBole's DeepFM and DIN classes (DIN is filed under sequential_recommender), imported without
    the anomaly-mode side effect."""
    import importlib

    sequential_models()  # the first import of sequential_recommender, with the anomaly setting restored
    return {name: getattr(importlib.import_module(f"recbole.model.{package}"), name)
            for name, package in CONTEXT_MODELS.items()}


@contextmanager
def _isolated_process_state():
    """Empty command line and untouched CUDA_VISIBLE_DEVICES while RecBole's Config is built."""
    argv, cuda = sys.argv, os.environ.get("CUDA_VISIBLE_DEVICES")
    sys.argv = argv[:1]
    try:
        yield
    finally:
        sys.argv = argv
        if cuda is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = cuda


def make_config(model: str, dataset: str, settings: dict[str, Any]):
    """A RecBole `Config` for `model` (its own defaults, then `settings`), without process side effects.

    The config's `device` is always CPU (RecBole derives it from `gpu_id`); callers move the model
    to the device they want."""
    numpy_aliases()
    sequential_models()  # Config imports the model class itself: keep the anomaly setting
    from recbole.config import Config

    with _isolated_process_state():
        config = Config(model=model, dataset=dataset, config_dict={"use_gpu": False, **settings})
    import torch

    config["device"] = torch.device("cpu")
    return config


def load_checkpoint(path: Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load a RecBole-format checkpoint (it pickles `Config`, which torch >= 2.6 refuses by default).

    Unpickling runs code: use only for checkpoints this tool wrote (e.g. under the results store)."""
    import torch

    numpy_aliases()
    return torch.load(Path(path), map_location=map_location, weights_only=False)


def interaction(tensors: dict[str, Any], rows: Any, device: Any):
    """A RecBole `Interaction` of `tensors` (all rows, or the index tensor `rows`) on `device`: how the
    methods feed RecBole's models without a RecBole Dataset."""
    from recbole.data.interaction import Interaction

    picked = tensors if rows is None else {k: v[rows] for k, v in tensors.items()}
    return Interaction(picked).to(device)


def batched_logits(forward: Any, model: Any, tensors: dict[str, Any], device: Any, batch: int = 512):
    """`forward(interaction)` over every row of `tensors`, `batch` rows at a time, with `model` in eval
    mode and no gradients; float64 numpy."""
    import numpy as np
    import torch

    model.eval()
    n = len(next(iter(tensors.values())))
    out = []
    with torch.no_grad():
        for start in range(0, n, batch):
            rows = torch.arange(start, min(n, start + batch))
            out.append(forward(interaction(tensors, rows, device)).float().cpu())
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)


def save_checkpoint(folder: Path, config: Any, model: Any, epoch: Any, best_valid_score: Any,
                    **fields: Any) -> Path:
    """RecBole's checkpoint layout (its Config pickled inside, `fields` beside the state), as
    `folder/model.pth`; `load_checkpoint` reads it back."""
    import torch

    path = Path(folder) / "model.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config, "state_dict": model.state_dict(), "epoch": epoch,
                "best_valid_score": best_valid_score, **fields}, path)
    return path


def device_precision(device: str) -> str | None:
    """What `Method.precision` says for a RecBole model trained on `device`: None (float32 on the CPU,
    keys as they always were) or `float32-cuda`. GPU kernels add in other orders (cuDNN's GRU is not
    even repeatable), so a GPU cell must not stand in for a CPU one."""
    kind = device.split(":")[0]
    return None if kind == "cpu" else f"float32-{kind}"


@contextmanager
def torch_threads(threads: int):
    """Set the thread count explicitly for the block (oversubscription made RecBole 10x slower here)."""
    import torch

    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class FieldTable:
    """A stand-in for the part of a RecBole Dataset that the model constructors read: the fields with
    their type and source (`fields`, `field2type`, `field2source`), how many ids each has (`num`,
    `user_num` for Caser), the user and item feature tables (DIN: `get_user_feature`,
    `get_item_feature`), `config`."""

    def __init__(self, config, fields: dict[str, tuple[str, str, int]], user_feat=None, item_feat=None):
        from recbole.utils import FeatureSource, FeatureType

        self.config = config
        self.field2type = {f: FeatureType[t] for f, (t, _, _) in fields.items()}
        self.field2source = {f: FeatureSource[s] for f, (_, s, _) in fields.items()}
        self._num = {f: n for f, (_, _, n) in fields.items()}
        self._user_feat, self._item_feat = user_feat, item_feat

    def fields(self, ftype=None, source=None) -> list[str]:
        return [f for f in self._num if (source is None or self.field2source[f] in source)
                and (ftype is None or self.field2type[f] in ftype)]

    def num(self, field: str) -> int:
        return self._num[field]

    @property
    def user_num(self) -> int:
        return self.num(self.config["USER_ID_FIELD"])

    def get_user_feature(self):
        return self._user_feat

    def get_item_feature(self):
        return self._item_feat
