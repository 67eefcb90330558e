"""A persistent cache of API responses, keyed by endpoint, model and the full request.

Why sqlite3 (stdlib) and not one JSON file per key: each `put` is one committed transaction, so an
answer is on disk before the next line runs and a crash or Ctrl-C never leaves half an entry; many
threads and several processes can write to the one file at once (sqlite's locking, WAL journal);
and a run of tens of thousands of requests stays one file instead of tens of thousands of inodes.
Entries are never overwritten: a request's first answer is the one every rerun sees.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from bench.paths import cache_dir


def default_path() -> Path:
    """Under the user cache (not the results store), so it survives moving or clearing a store."""
    return cache_dir() / "responses" / "openai-chat.sqlite"


def request_key(endpoint: str, request: dict[str, Any]) -> str:
    """sha256 over the endpoint and the canonical JSON of the request (model included)."""
    canonical = json.dumps({"endpoint": endpoint.rstrip("/"), "request": request},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """`get(endpoint, request)` / `put(endpoint, request, response)`; thread-safe, one sqlite file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, endpoint TEXT, "
                         "model TEXT, request TEXT, response TEXT, created REAL)")

    def get(self, endpoint: str, request: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?",
                                   (request_key(endpoint, request),)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, endpoint: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Store and commit at once; a key already present keeps its first answer."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO responses (key, endpoint, model, request, response, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (request_key(endpoint, request), endpoint.rstrip("/"), str(request.get("model")),
                 json.dumps(request, sort_keys=True), json.dumps(response), time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
