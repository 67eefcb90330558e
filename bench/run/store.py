"""The results store: one JSON record per cell, written atomically, keyed by what determines it.

Layout under the store root:
  records/<method>/<key>.json   the record (config, AUC, per-sample scores, provenance)
  testsets/<digest>.json        sample ids, labels and users of a test set, shared by every record scored on it
  vectors/<digest>.f64          a per-sample vector (scores, an LM's log-probs) as little-endian float64,
                                named by the sha256 of its bytes: stored once however many records hold it
  audits/<domain>-<fingerprint>.json   facts about a test domain's data (`bench.data.audit`), for the report
  artifacts/<key>/              what a method trained (adapters, checkpoints); ignored by git
Records name their test set and their per-sample vectors by digest instead of repeating thousands
of values each: binary float64 is exact (the JSON numbers read back bit for bit) at a fraction of
the text, and the seeds of a deterministic method, whose scores are identical, share one file. That
keeps the committed store small; `load` and `records` join them back, so readers see whole records.
A cell's key is a hash of the method, its full config, the domains, K, seed, test subset and the
data fingerprints: not of the code version, so a finished cell is never recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.files import write_bytes_atomically, write_json_atomically


def stored_values(values) -> list[float]:
    """Per-sample numbers as records keep them: 9 significant digits (float32 precision) keep them small.
    A record's AUC is that of its stored scores."""
    return [float(f"{v:.9g}") for v in values]


def cell_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


@functools.lru_cache(maxsize=64)
def _method_class(method: str) -> Any:
    from bench.run import registry  # the contract: imported late, only for the method's class attributes

    return registry.available().get(method)


def record_identity(record: dict[str, Any]) -> tuple:
    """What tells one cell's record from another's, read from the record itself (method, config,
    domains, K, seed, test subset): how `bench check` matches a fresh record to its reference and
    how the report tells a stored record from a view of another. Parameters at the value that
    reproduces what ran before they existed (`Method.key_neutral_defaults`) are left out, so a record
    written before a parameter was added and one written after are the same cell, as their keys are."""
    from bench.run.identity import without_neutral_defaults

    found = _method_class(record["method"])
    config = without_neutral_defaults(found, record["config"]) if found is not None else record["config"]
    return (record["method"], json.dumps(config, sort_keys=True), record["train"], record["test"],
            record["shots"], record["seed"], record.get("test_size"))


#: The record format's version, written into every record. Older records are brought up to it on read,
#: one step at a time (`MIGRATIONS`), so readers see one format and never handle an old one themselves.
SCHEMA = 2


def _to_schema_2(record: dict[str, Any]) -> dict[str, Any]:
    """Records from before `schema` existed: a cell's peak memory without `peak_rss_source` was the
    process's peak so far (inherited from earlier cells), and a test set without users was not
    recorded (the statistics then resample samples, and the report says so)."""
    if "peak_rss_mb" in record and "peak_rss_source" not in record:
        record["peak_rss_source"] = "process peak so far (recorded before peaks were per cell)"
    record.setdefault("users", None)
    return record


MIGRATIONS = {1: _to_schema_2}  # from version N to N + 1


def migrate(record: dict[str, Any]) -> dict[str, Any]:
    """The record in the current SCHEMA, each step applied in turn (a record without one is version 1)."""
    version = record.get("schema", 1)
    while version < SCHEMA:
        record = MIGRATIONS[version](record)
        version += 1
    record["schema"] = SCHEMA
    return record


TEST_SET_FIELDS = ("sample_ids", "labels")
#: Stored with the test set but not part of its digest: users were recorded after test sets were
#: named by the digest of their ids and labels, which they do not change.
TEST_SET_EXTRA_FIELDS = ("users",)


class ResultStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, method: str, key: str) -> Path:
        return self.root / "records" / method / f"{key}.json"

    def has(self, method: str, key: str) -> bool:
        return self._path(method, key).is_file()

    def load(self, method: str, key: str) -> dict[str, Any]:
        return self._joined(json.loads(self._path(method, key).read_text()))

    def write(self, record: dict[str, Any]) -> Path:
        """Write one record atomically; its sample ids, labels and users go to the shared test-set file."""
        record = {**record, "schema": SCHEMA}
        if all(field in record for field in TEST_SET_FIELDS):
            test_set = {field: record.pop(field) for field in TEST_SET_FIELDS}
            digest = hashlib.sha256(json.dumps(test_set).encode()).hexdigest()[:20]
            # users not recorded (None) stay with the record: the test set holds only what is known
            test_set.update({field: record.pop(field) for field in TEST_SET_EXTRA_FIELDS
                             if record.get(field) is not None})
            test_set_path = self.root / "testsets" / f"{digest}.json"
            if not test_set_path.is_file() or set(test_set) - set(self._test_set(digest)):
                write_json_atomically(test_set_path, test_set, indent=None)  # new, or gains its users
                self._test_set.cache_clear()
            record["test_set"] = digest
        if isinstance(record.get("scores"), list):
            record["scores_vector"] = self._write_vector(record.pop("scores"))
        if record.get("sample_values"):
            record["sample_value_vectors"] = {name: self._write_vector(values)
                                              for name, values in record.pop("sample_values").items()}
        path = self._path(record["method"], record["key"])
        write_json_atomically(path, record, indent=None)
        return path

    @functools.lru_cache(maxsize=64)  # noqa: B019 - a store lives as long as the process, by design
    def _test_set(self, digest: str) -> dict[str, Any]:
        return json.loads((self.root / "testsets" / f"{digest}.json").read_text())

    def _write_vector(self, values: list[float]) -> str:
        data = np.asarray(values, dtype="<f8").tobytes()
        digest = hashlib.sha256(data).hexdigest()[:20]
        path = self.root / "vectors" / f"{digest}.f64"
        if not path.is_file():
            write_bytes_atomically(path, data)
        return digest

    @functools.lru_cache(maxsize=256)  # noqa: B019 - as _test_set
    def _vector(self, digest: str) -> tuple[float, ...]:
        return tuple(np.frombuffer((self.root / "vectors" / f"{digest}.f64").read_bytes(), dtype="<f8").tolist())

    def _joined(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as readers see it: test set and vectors joined back, in the current schema."""
        if "test_set" in record:
            record.update({field: list(values) for field, values in self._test_set(record["test_set"]).items()})
        if "scores_vector" in record:
            record["scores"] = list(self._vector(record.pop("scores_vector")))
        if "sample_value_vectors" in record:
            record["sample_values"] = {name: list(self._vector(digest))
                                       for name, digest in record.pop("sample_value_vectors").items()}
        return migrate(record)

    def has_audit(self, domain: str, fingerprint: str) -> bool:
        return (self.root / "audits" / f"{domain}-{fingerprint}.json").is_file()

    def write_audit(self, domain: str, fingerprint: str, facts: dict[str, Any]) -> None:
        write_json_atomically(self.root / "audits" / f"{domain}-{fingerprint}.json", facts)

    def audits(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(domain, test fingerprint) -> the audit facts stored for it."""
        found = {}
        for path in sorted((self.root / "audits").glob("*.json")):
            domain, _, fingerprint = path.stem.rpartition("-")
            found[(domain, fingerprint)] = json.loads(path.read_text())
        return found

    def artifact_dir(self, key: str) -> Path:
        return self.root / "artifacts" / key

    def records(self) -> Iterator[dict[str, Any]]:
        for path in sorted((self.root / "records").glob("*/*.json")):
            yield self._joined(json.loads(path.read_text()))
