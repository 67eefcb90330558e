"""The store keeps per-sample vectors as binary float64 named by their content: exact, shared by the
records that hold the same values, and records written before (scores inline) still read whole."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.run.store import ResultStore


def _record(key: str, scores: list[float], seed: int = 0) -> dict:
    return {"key": key, "method": "like-ratio", "seed": seed, "status": "ok", "sample_ids": ["a", "b", "c"],
            "labels": [1, 0, 1], "users": ["u1", "u1", "u2"], "scores": scores, "auc": 0.75,
            "sample_values": {"log_p_yes": [-0.1, -2.5, -0.7]}}


def test_vectors_round_trip_exactly_and_identical_ones_are_stored_once(tmp_path):
    store = ResultStore(tmp_path)
    awkward = [0.1 + 0.2, 1 / 3, float(np.nextafter(0.5, 1)), 123456789.0, -0.0]
    for seed in range(5):  # a deterministic method: five seeds, one score vector
        store.write(_record(f"k{seed}", awkward[:3], seed))
    store.write(_record("other", awkward[2:]))
    assert len(list((tmp_path / "vectors").glob("*.f64"))) == 3  # two score vectors, one log-prob vector
    assert store.load("like-ratio", "k3")["scores"] == awkward[:3]  # bit for bit
    assert store.load("like-ratio", "other")["scores"] == awkward[2:]
    assert store.load("like-ratio", "k0")["sample_values"] == {"log_p_yes": [-0.1, -2.5, -0.7]}
    raw = json.loads((tmp_path / "records" / "like-ratio" / "k0.json").read_text())
    assert "scores" not in raw and "scores_vector" in raw  # the JSON keeps the metadata only


def test_a_record_written_with_inline_scores_still_loads(tmp_path):
    (tmp_path / "records" / "like-ratio").mkdir(parents=True)
    (tmp_path / "records" / "like-ratio" / "old.json").write_text(json.dumps(_record("old", [0.25, 0.5, 0.75])))
    (record,) = ResultStore(tmp_path).records()
    assert record["scores"] == [0.25, 0.5, 0.75] and record["users"] == ["u1", "u1", "u2"]


def test_records_of_an_older_schema_are_brought_up_to_date_on_read(tmp_path):
    """A record written before `schema` existed (no users, a peak without its source) reads in the
    current format; written again, it keeps what it had and gains nothing invented."""
    from bench.run.store import SCHEMA, migrate

    old = _record("v1", [0.25, 0.5, 0.75])
    old.pop("users", None)
    old.update(peak_rss_mb=512.0)
    (tmp_path / "records" / "like-ratio").mkdir(parents=True)
    (tmp_path / "records" / "like-ratio" / "v1.json").write_text(json.dumps(old))
    store = ResultStore(tmp_path)
    read = store.load("like-ratio", "v1")
    assert read["schema"] == SCHEMA and read["users"] is None and "process peak" in read["peak_rss_source"]
    store.write(dict(read, key="v1-again"))
    again = store.load("like-ratio", "v1-again")
    assert again["users"] is None and again["scores"] == read["scores"]
    assert migrate(dict(again)) == again  # the current schema migrates to itself


def test_every_committed_key_is_what_the_harness_computes_from_its_record():
    """Keys are identities: the key of each committed record recomputes from what the record holds, with
    the method rebuilt from its config and keyed by bench.run.identity as runner.plan keys a cell. A
    change to keying (a tag's meaning, identity.py, the runner's identity) that would orphan a stored
    cell fails here."""
    from bench.run import registry
    from bench.run.identity import key_config
    from bench.run.store import ResultStore, cell_key

    records = [r for r in ResultStore(Path(__file__).parents[1] / "results").records() if not r.get("view_of")]
    assert len(records) > 1000
    for r in records:
        config = key_config(registry.from_config(r["method"], r["config"]))
        config.update({"precision": r["config"]["precision"]} if "precision" in r["config"] else {})
        data = r["data"]
        identity = {"method": r["method"], "config": config, "train": r["train"], "test": r["test"],
                    "shots": r["shots"], "seed": r["seed"], "test_size": r.get("test_size"),
                    "data": {"train": {d: data[d]["fingerprints"] for d in r["train_domains"]},
                             "test": data[r["test"]]["fingerprints"]["test"]}}
        assert cell_key(identity) == r["key"], f"{r['method']} {r['key']}: its key no longer recomputes"
