"""The RecBole CTR baselines (deepfm, din): real fits on movie, what RecBole's models are fed, unknown
ids, determinism, parameter errors, checkpoints, the not-applicable path across domains and one
harness run through the command line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from bench import cli, recbole_compat
from bench.data.samples import HistoryItem, Item, Sample
from bench.data.splits import training_set
from bench.errors import BenchError
from bench.metrics import auc
from bench.run import registry, runner
from bench.run.store import ResultStore

FAST = {"epochs": "3", "patience": "1"}


@pytest.fixture(scope="module")
def movie64(data_dir: Path):
    return training_set("movie", 64, 0, data_dir)


def _context(ts, seed: int = 0, pool=None, tmp: Path | None = None) -> registry.FitContext:
    return registry.FitContext(seed=seed, train_plan="movie", train_domains=["movie"],
                               train_pool=ts.pool if pool is None else pool,
                               artifact_dir=tmp or Path("unused"), device="cpu")


def _fit(name: str, ts, seed: int = 0, shots=None, valid_size: int = 200, tmp: Path | None = None,
         **params: str):
    method = registry.build(name, {**FAST, **params})
    method.fit(ts.shots if shots is None else shots, ts.valid[:valid_size], _context(ts, seed, tmp=tmp))
    return method


# Measured on the whole movie test set, K=64 seed 0: deepfm 0.566, din 0.723; with pool_logs
# (pool_epochs 3 / 2 here, to keep the test short) deepfm 0.659, din 0.723.
@pytest.mark.parametrize(("name", "params", "floor"), [
    ("deepfm", {}, None), ("din", {}, None),
    ("deepfm", {"pool_logs": "true", "pool_epochs": "3"}, 0.6),
    ("din", {"pool_logs": "true", "pool_epochs": "2"}, 0.65),
])
def test_fits_movie_k64_and_scores_the_test_set(movie64, data_dir, name, params, floor):
    from bench.data.domains import load_domain

    test = load_domain("movie", data_dir).test
    method = registry.build(name, params)  # the default epochs and patience
    method.fit(movie64.shots, movie64.valid, _context(movie64))
    scores = method.score(test)
    value = auc([s.label for s in test], scores)
    extra = method.extra_record()
    print(f"{name} {params} movie K=64 seed 0: test AUC {value:.4f}, valid AUC {extra['valid_auc']:.4f}, "
          f"best epoch {extra['best_epoch']}/{extra['epochs_run']}, {extra['training_rows']} rows")
    assert len(scores) == len(test) and all(math.isfinite(s) for s in scores)
    assert 0.0 < value < 1.0
    assert extra["training_rows"] == (len(movie64.pool) if params else 64)  # the shots are pool samples
    if floor is not None:
        assert value > floor


def _sample(history: list[tuple[Item, bool]], target: Item, user: str = "843") -> Sample:
    return Sample(uid="hand-made", domain="movie", history=tuple(HistoryItem(i, liked) for i, liked in history),
                  target=target, label=1, user=user)


def test_what_the_models_read_and_unknown_ids(movie64):
    deepfm, din = _fit("deepfm", movie64, epochs="1"), _fit("din", movie64, epochs="1")
    first = movie64.pool[0]
    (a, b), target = [h.item for h in first.history[:2]], first.target
    stranger = Item(id="no-such-item", title="A Film Nobody Rated (2031)")
    sample = _sample([(a, True), (b, False), (stranger, True)], target, user=first.user)
    ids = deepfm._items
    ia, ib, it = ids[f"movie:{a.id}"], ids[f"movie:{b.id}"], ids[f"movie:{target.id}"]
    from methods.ctr import _Row

    encoded = deepfm._encode([_Row.of(sample)])
    assert encoded["user_id"].tolist() == [deepfm._users[f"movie:{first.user}"]]
    assert encoded["item_id"].tolist() == [it]
    assert encoded["liked_item_list"].tolist() == [[ia, 0, 0] + [0] * 7]  # the unknown liked item: padding
    assert encoded["disliked_item_list"].tolist() == [[0, ib, 0] + [0] * 7]

    encoded = din._encode([_Row.of(sample)])  # rows of DIN's item feature table: item x 4 + flag
    assert encoded["item_id_list"].tolist() == [[ia * 4 + 3, ib * 4 + 2, 0 * 4 + 3] + [0] * 7]
    assert encoded["item_length"].tolist() == [3]
    assert encoded["item_id"].tolist() == [it * 4 + 1]
    item_feat = din._model.embedding_layer.item_feat
    assert item_feat["item_id"][encoded["item_id_list"][0, :3]].tolist() == [ia, ib, 0]
    assert item_feat["history_flag"][encoded["item_id_list"][0, :3]].tolist() == [3, 2, 3]

    # RecBole's own predict for those ids is the sigmoid of the score.
    for method in (deepfm, din):
        method._model.eval()
        with torch.no_grad():
            expected = float(method._model.predict(method._interaction(method._encode([_Row.of(sample)])))[0])
        assert 1 / (1 + math.exp(-method.score([sample])[0])) == pytest.approx(expected, abs=1e-6)

    # Unknown user, unknown target, empty history: padding everywhere, still a finite score.
    lone = Sample(uid="x", domain="movie", history=(), target=stranger, label=0, user="nobody")
    for method in (deepfm, din):
        assert math.isfinite(method.score([lone])[0])
        assert method.extra_record()["unknown_user_ids_last_encoded"] == 1


def test_same_seed_same_scores_and_process_state_untouched(movie64, data_dir):
    shots, test = movie64.shots[:16], movie64.valid[200:400]
    threads = torch.get_num_threads()
    for name in ("deepfm", "din"):
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        first = _fit(name, movie64, seed=1, shots=shots).score(test)
        assert torch.equal(torch.rand(3), expected)
        assert torch.get_num_threads() == threads
        again = _fit(name, movie64, seed=1, shots=shots).score(test)
        other = _fit(name, movie64, seed=2, shots=shots).score(test)
        assert first == again
        assert first != other


@pytest.mark.parametrize(("name", "params", "says"), [
    ("deepfm", {"epochs": "0"}, "epochs"),
    ("din", {"patience": "0"}, "patience"),
    ("deepfm", {"batch_size": "1"}, "batch_size"),
    ("din", {"learning_rate": "-0.1"}, "learning_rate"),
    ("din", {"learning_rate": "nan"}, "learning_rate"),
    ("deepfm", {"pool_epochs": "0"}, "pool_epochs"),
    ("deepfm", {"pool_history": "true"}, "pool_logs=true"),
    ("din", {"pool_epochs": "3"}, "pool_epochs caps the epochs over the pool logs; set pool_logs=true"),
])
def test_bad_parameters_are_one_line_errors(name, params, says):
    with pytest.raises(BenchError, match=says) as error:
        registry.build(name, params)
    assert "\n" not in str(error.value) and name in str(error.value)


def test_din_needs_two_training_rows_and_nothing_is_scored_before_fit(movie64):
    with pytest.raises(BenchError, match="K >= 2"):
        _fit("din", movie64, shots=movie64.shots[:1])
    with pytest.raises(BenchError, match="at least one training shot"):
        _fit("deepfm", movie64, shots=[])
    with pytest.raises(BenchError, match="call fit before score"):
        registry.build("deepfm").score(movie64.valid[:2])


def test_pool_history_adds_rows_and_checkpoint_loads(movie64, tmp_path):
    pool = movie64.pool[:300]
    method = registry.build("deepfm", {**FAST, "pool_logs": "true", "pool_history": "true", "save_model": "true"})
    method.fit(movie64.shots, movie64.valid[:100], _context(movie64, pool=pool, tmp=tmp_path))
    extra = method.extra_record()
    # 300 targets; the history entries of users whose windows start in this slice are extra rows; the
    # shots outside the slice come on top
    assert extra["training_rows"] > len(pool)
    checkpoint = recbole_compat.load_checkpoint(Path(extra["checkpoint"]))
    assert checkpoint["config"]["model"] == "DeepFM"
    state = method._model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in checkpoint["state_dict"].items())


def test_not_applicable_across_domains(data_dir, store_dir):
    assert not registry.get("deepfm").cross_domain and not registry.get("din").cross_domain
    grid = runner.Grid(methods=["din"], shots=[16], seeds=[0], train=["movie"], test=["movie", "book"],
                       params={"din": FAST}, test_size=40, data_dir=str(data_dir), device="cpu")
    runner.run(grid, ResultStore(store_dir), progress=False)
    records = {r["test"]: r for r in ResultStore(store_dir).records()}
    assert records["book"]["status"] == "not-applicable" and records["book"]["auc"] is None
    assert records["movie"]["status"] == "ok" and 0.0 <= records["movie"]["auc"] <= 1.0


def test_one_harness_run_through_the_command_line(data_dir, tmp_path):
    store = tmp_path / "r"
    code = cli.main(["run", "--method", "deepfm", "--shots", "16", "--seeds", "0", "--train", "movie",
                     "--test", "movie", "--store", str(store), "--data-dir", str(data_dir), "--no-progress",
                     "--test-size", "100"])
    assert code == 0
    records = list(ResultStore(store).records())
    assert len(records) == 1 and records[0]["method"] == "deepfm" and records[0]["status"] == "ok"
    assert 0.0 <= records[0]["auc"] <= 1.0


@pytest.mark.parametrize("name", ["deepfm", "din"])
def test_validation_labels_only_pick_the_epoch(movie64, name):
    """With one epoch there is nothing to pick: permuted validation labels must change no score."""
    import dataclasses

    valid = movie64.valid[:200]
    flipped = [dataclasses.replace(s, label=1 - s.label) for s in valid]
    test = movie64.valid[200:300]
    plain = registry.build(name, {"epochs": "1"})
    plain.fit(movie64.shots, valid, _context(movie64))
    blind = registry.build(name, {"epochs": "1"})
    blind.fit(movie64.shots, flipped, _context(movie64))
    assert plain.score(test) == blind.score(test)
