"""The RecBole sequential baselines: scoring a known (history, target) pair, unknown ids, determinism,
the pretraining option, checkpoints, and the not-applicable path across domains."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from bench import recbole_compat
from bench.data.domains import load_domain
from bench.data.samples import HistoryItem, Item, Sample
from bench.data.splits import few_shot
from bench.errors import BenchError
from bench.metrics import auc
from bench.run import registry, runner
from bench.run.store import ResultStore

FAST = {"epochs": "2", "patience": "1"}


@pytest.fixture(scope="module", autouse=True)
def private_embedding_cache(tmp_path_factory):
    """Text vectors go to a throwaway cache (shared by this module's tests), never the user's."""
    before = os.environ.get("BENCH_CACHE_DIR")
    os.environ["BENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("BENCH_CACHE_DIR")
    else:
        os.environ["BENCH_CACHE_DIR"] = before


@pytest.fixture(scope="module")
def movie(data_dir: Path):
    return load_domain("movie", data_dir)


def _fit(name: str, movie, seed: int = 0, k: int = 16, pool_size: int = 200, tmp: Path | None = None,
         **params: str):
    """A method fitted on movie shots, with a small pool and validation set to keep the test fast."""
    method = registry.build(name, {**FAST, **params})
    shots = few_shot(movie.train, k, seed, "movie")
    context = registry.FitContext(seed=seed, train_plan="movie", train_domains=["movie"],
                                  train_pool=movie.train[:pool_size], artifact_dir=tmp or Path("unused"),
                                  device="cpu")
    method.fit(shots, movie.valid[:100], context)
    return method


def _sample(history: list[Item], target: Item, domain: str = "movie") -> Sample:
    return Sample(uid="hand-made", domain=domain, history=tuple(HistoryItem(i, True) for i in history),
                  target=target, label=1)


@pytest.mark.parametrize("name", ["gru4rec", "caser", "sasrec", "gru4rec-text", "sasrec-text"])
def test_known_pair_is_scored_as_recbole_predicts_it(movie, name):
    method = _fit(name, movie)
    known = [h.item for h in movie.train[0].history][:3]
    target = movie.train[0].target
    encoded = method._encode([_sample(known, target)])
    model = method._model
    ids = [method._vocabulary[f"movie:{i.id}"] for i in known]
    assert encoded[model.ITEM_SEQ].tolist() == [ids + [0] * 7]  # oldest first, padded at the end
    assert encoded[model.ITEM_SEQ_LEN].tolist() == [3]
    assert encoded[model.ITEM_ID].tolist() == [method._vocabulary[f"movie:{target.id}"]]

    # The same number straight from RecBole's model: the sequence representation . target embedding.
    model.eval()
    seq, length = encoded[model.ITEM_SEQ], encoded[model.ITEM_SEQ_LEN]
    with torch.no_grad():
        if name == "caser":
            representation = model.forward(encoded[model.USER_ID], seq)
        else:
            representation = model.forward(seq, length)
        expected = float((representation * model.item_embedding(encoded[model.ITEM_ID])).sum())
    assert method.score([_sample(known, target)]) == pytest.approx([expected], rel=1e-6)
    if name != "caser":  # Caser's vertical convolution also reads the padding, but order matters too
        reordered = method.score([_sample(known[::-1], target)])[0]
        assert reordered != pytest.approx(expected, rel=1e-6)


def test_unknown_ids_map_to_padding_and_still_score(movie):
    method = _fit("gru4rec", movie)
    stranger = Item(id="no-such-item", title="A Film Nobody Rated (2031)")
    known = movie.train[0].history[0].item
    sample = _sample([stranger, known], stranger)
    encoded = method._encode([sample])
    assert encoded[method._model.ITEM_SEQ].tolist()[0][:2] == [0, method._vocabulary[f"movie:{known.id}"]]
    assert encoded[method._model.ITEM_ID].tolist() == [0]
    assert math.isfinite(method.score([sample])[0])


def test_text_variant_embeds_items_first_seen_at_score_time(movie):
    method = _fit("gru4rec-text", movie)
    size = len(method._vocabulary)
    stranger = Item(id="no-such-item", title="A Film Nobody Rated (2031)")
    book = Item(id="b-new", title="The Colonel", author="Patrick A. Davis")
    scores = method.score([_sample([stranger], stranger), _sample([book], book, domain="book")])
    assert all(math.isfinite(s) for s in scores)
    assert len(method._vocabulary) == size + 2
    assert method._model.item_embedding.vectors.shape[0] == size + 3  # + padding row


@pytest.mark.parametrize("name", ["gru4rec", "sasrec-text"])
def test_same_seed_same_scores_bit_for_bit(movie, name):
    test = movie.test[:200]
    first = _fit(name, movie, seed=1).score(test)
    again = _fit(name, movie, seed=1).score(test)
    other = _fit(name, movie, seed=2).score(test)
    assert first == again
    labels = [s.label for s in test]
    assert auc(labels, first) == auc(labels, again)
    assert first != other


@pytest.mark.parametrize("name", ["gru4rec", "caser", "sasrec"])
def test_the_thread_count_moves_scores_only_in_float32s_last_bits(movie, name):
    """threads is operational (not in the cell key): other thread counts add in other orders, which
    moves a score by float32 rounding at most, as another CPU does; never more."""
    test = movie.test[:200]
    one, two = _fit(name, movie, threads="1").score(test), _fit(name, movie, threads="2").score(test)
    assert max(abs(a - b) for a, b in zip(one, two, strict=True)) < 1e-5


def test_fit_leaves_process_rng_and_threads_alone(movie):
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    expected = torch.rand(3)
    torch.manual_seed(123)
    _fit("sasrec", movie, threads="1")
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_pretraining_on_the_pool_logs_is_optional_and_recorded(movie):
    plain = _fit("gru4rec", movie)
    pretrained = _fit("gru4rec", movie, pretrain_epochs="1")
    assert "pretrain_final_loss" not in plain.extra_record()
    assert math.isfinite(pretrained.extra_record()["pretrain_final_loss"])
    test = movie.test[:50]
    assert plain.score(test) != pretrained.score(test)


def test_saved_checkpoint_loads_through_the_compat_layer(movie, tmp_path):
    method = _fit("sasrec", movie, tmp=tmp_path, save_model="true")
    checkpoint = recbole_compat.load_checkpoint(Path(method.extra_record()["checkpoint"]))
    assert checkpoint["config"]["model"] == "SASRec"
    assert checkpoint["vocabulary"] == list(method._vocabulary)
    state = method._model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in checkpoint["state_dict"].items())


def test_id_models_are_not_applicable_across_domains_and_text_models_are(data_dir, store_dir):
    grid = runner.Grid(methods=["gru4rec", "gru4rec-text"], shots=[16], seeds=[0], train=["movie"],
                       test=["movie", "book"], params={"gru4rec": FAST, "gru4rec-text": FAST},
                       test_size=40, data_dir=str(data_dir), device="cpu")
    runner.run(grid, ResultStore(store_dir), progress=False)
    records = {(r["method"], r["test"]): r for r in ResultStore(store_dir).records()}
    assert records["gru4rec", "book"]["status"] == "not-applicable"
    assert records["gru4rec", "book"]["auc"] is None
    for cell in [("gru4rec", "movie"), ("gru4rec-text", "movie"), ("gru4rec-text", "book")]:
        assert records[cell]["status"] == "ok" and 0.0 <= records[cell]["auc"] <= 1.0


@pytest.mark.parametrize(("params", "says"), [
    ({"epochs": "0"}, "epochs"), ({"patience": "0"}, "patience"), ({"batch_size": "0"}, "batch_size"),
    ({"learning_rate": "nan"}, "learning_rate"), ({"pretrain_epochs": "-1"}, "pretrain_epochs"),
    ({"threads": "-2"}, "threads"),
])
def test_bad_parameters_are_one_line_errors(params, says):
    with pytest.raises(BenchError, match=f"gru4rec: bad {says}=") as error:
        registry.build("gru4rec", params)
    assert "\n" not in str(error.value) and "--param gru4rec." in str(error.value)


def test_without_a_validation_set_every_epoch_runs(movie):
    method = registry.build("gru4rec", {"epochs": "3", "patience": "1"})
    context = registry.FitContext(seed=0, train_plan="movie", train_domains=["movie"], train_pool=movie.train[:200],
                                  artifact_dir=Path("unused"), device="cpu")
    method.fit(few_shot(movie.train, 16, 0, "movie"), [], context)
    extra = method.extra_record()
    assert (extra["epochs_run"], extra["best_epoch"], extra["valid_auc"]) == (3, 3, None)
    assert len(method.score(movie.test[:20])) == 20
