"""The results store: one JSON record per cell, written atomically, keyed by what determines it.

Layout under the store root:
  records/<method>/<key>.json   the record (config, AUC, per-sample scores, provenance)
  artifacts/<key>/              what a method trained (adapters, checkpoints); ignored by git
A cell's key is a hash of the method, its full config, the domains, K, seed, test subset and the
data fingerprints: not of the code version, so a finished cell is never recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def cell_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def write_json_atomically(path: Path, payload: Any) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, method: str, key: str) -> Path:
        return self.root / "records" / method / f"{key}.json"

    def has(self, method: str, key: str) -> bool:
        return self._path(method, key).is_file()

    def load(self, method: str, key: str) -> dict[str, Any]:
        return json.loads(self._path(method, key).read_text())

    def write(self, record: dict[str, Any]) -> Path:
        path = self._path(record["method"], record["key"])
        write_json_atomically(path, record)
        return path

    def artifact_dir(self, key: str) -> Path:
        return self.root / "artifacts" / key

    def records(self) -> Iterator[dict[str, Any]]:
        for path in sorted((self.root / "records").glob("*/*.json")):
            yield json.loads(path.read_text())
