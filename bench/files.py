"""Atomic file writes: a crash, Ctrl-C or a second process never leaves a half-written file.

Everything the harness keeps (records, vectors, test sets, caches, checkpoints) is written through
`atomic_write`: into a temporary file in the same folder, flushed and fsynced, then renamed over
the target, which names the old content or the new one and never anything in between.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "w") -> Iterator[IO]:
    """Yield a file to write `path`'s new content into ("w" text, "wb" bytes); renamed in on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomically(path: Path, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_json_atomically(path: Path, payload: Any, indent: int | None = 1) -> None:
    with atomic_write(path) as f:
        json.dump(payload, f, indent=indent, separators=None if indent else (",", ":"))
