"""RecBole's click-through-rate models DeepFM and DIN on the few-shot task, the CTR baselines that the
papers after TALLRec compare with (CoLLM, arXiv 2310.19488; ReLLa, arXiv 2308.11131).

Each method is RecBole's own model class (through `bench.recbole_compat`), with RecBole's default sizes
for that model, driven without a RecBole `Dataset` as methods/sequential.py drives GRU4Rec: a small
stand-in (`bench.recbole_compat.FieldTable`) answers what the constructors ask (which fields there are,
their type and source, how many ids each has, DIN's user and item feature tables), and batches are
`Interaction`s built here.
The logit (the models' `forward`; their `predict` is its sigmoid) is a binary classifier of the label,
trained with RecBole's own loss (`calculate_loss`: BCE with logits) on the K shots, and with
`pool_logs` also on the train pool's logs. Early stopping keeps the epoch with the best AUC on the
validation set of the train domain. Scores are the logits.

Features of a sample (user, history of up to 10 items with liked flags, target):

- DeepFM: token fields `user_id` and `item_id` (the target), and the history as token-sequence fields
  (mean-pooled embeddings): `liked_item_list` and `disliked_item_list`, or with `liked_flags=false`
  one `item_id_list`.
- DIN: `user_id`, the target `item_id` and the history `item_id_list` / `item_length`. With
  `liked_flags` (the default) each history entry also has an item-side token feature `history_flag`
  (liked / disliked; the target has a third value), which DIN's feature table concatenates to the
  item embedding; `liked_flags=false` gives RecBole's plain DIN on item ids. RecBole's DIN, like the
  official code, embeds the user but feeds only the attention-pooled history and the target to its MLP,
  so the user id changes nothing there.

Ids: users and items get an index from the train pool and the shots (keyed by domain); index 0 is the
padding entry, and an id not seen there maps to it (unknown ids never crash; the model just knows
nothing about them). Users are `sample.user`; a sample without one is its own user. No test user of
movie or book is in the train pool (movie: the test set is 16 users the pool of 80 users does not
hold; book: every sample is its own user), so at score time every user id is the padding entry,
and the user field is a constant there: it can only absorb per-user offsets in training. Validation
users are mapped the same way (not added to the vocabulary), so early stopping sees what the test
set will. An item id not in the pool is unknown too (2.5% of movie test targets, 75% of book's).

With pool_logs the training rows are the pool (the shots are pool samples), so K changes nothing.

Measured (test AUC, seed 0, CPU): movie K=16/64/256 deepfm 0.561/0.566/0.606, din 0.725/0.723/0.723;
with pool_logs deepfm 0.653, din 0.722; book K=16 deepfm 0.487, din 0.543, with pool_logs 0.507 and
0.661. DIN's flags carry the like-ratio signal (like-ratio: movie 0.726, book 0.696) from its first
epoch (the best one on validation at K >= 64); without flags din scores 0.47-0.54 on movie and deepfm
0.51-0.58.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from bench.data.samples import Sample, item_key
from bench.errors import BenchError
from bench.recbole_compat import MAX_HISTORY, PADDING, FieldTable
from bench.run.registry import FitContext, is_count, register
from methods.recbole_method import RecBoleMethod

# Values of DIN's `history_flag` item feature (0 is padding).
TARGET_FLAG, DISLIKED_FLAG, LIKED_FLAG = 1, 2, 3
N_FLAGS = 4
POOL_EPOCHS = 10  # the default cap on epochs over the pool logs (pool_logs=true)


class _Row:
    """One training or scored example: whose, which target, the history before it, the label."""

    __slots__ = ("domain", "user", "target", "history", "label")

    def __init__(self, domain: str, user: str, target: str, history: list[tuple[str, bool]], label: int):
        self.domain, self.user, self.target, self.history, self.label = domain, user, target, history, label

    @classmethod
    def of(cls, sample: Sample) -> _Row:
        return cls(sample.domain, sample.user_key, sample.target.id,
                   [(h.item.id, h.liked) for h in sample.history], sample.label)


def _pool_rows(pool: list[Sample], with_history: bool) -> list[_Row]:
    """Every pool sample's target with its label; with `with_history`, also each history entry as a
    row of its own (its liked flag the label, the entries before it its history), for the (user, item)
    pairs that are no pool target already (movie's pool samples are sliding windows over each user's
    ratings, so most history entries are some other sample's target)."""
    rows = [_Row.of(s) for s in pool]
    if with_history:
        seen = {(r.user, item_key(r.domain, r.target)) for r in rows}
        for sample in pool:
            history = [(h.item.id, h.liked) for h in sample.history]
            for j, (item_id, liked) in enumerate(history):
                pair = (sample.user_key, item_key(sample.domain, item_id))
                if pair not in seen:
                    seen.add(pair)
                    rows.append(_Row(sample.domain, pair[0], item_id, history[:j], int(liked)))
    return rows


class _RecBoleCTR(RecBoleMethod):
    """Base class of deepfm and din; subclasses name the RecBole model, its fields and its batches.

    Parameters
    ----------
    batch_size : int
        Training rows per Adam step (>= 2); an epoch is cut into near-equal batches of at most this many.
    pool_logs : bool
        Also train on the train pool's logs (every pool sample's target with its label); K then changes
        nothing.
    pool_history : bool
        With pool_logs, also train on each pool history entry as a (user, item, liked) row of its own.
    pool_epochs : int
        With pool_logs, the cap on training epochs (it runs at most min(epochs, pool_epochs)); >= 1.
    liked_flags : bool
        Give the model each history entry's liked flag (see deepfm and din); false: history item ids only.
    """

    family = "collaborative"

    needs_pairs: ClassVar[bool] = False  # DIN's batch normalisation cannot train on a batch of one row
    min_batch_size = 2
    setting_names = ("embedding_size", "mlp_hidden_size", "dropout_prob", "pooling_mode", "MAX_ITEM_LIST_LENGTH")
    # DeepFM's CPU results are the same for any thread count (measured); saving the model changes no score.
    operational_parameters = frozenset({"threads", "save_model"})

    def __init__(self, *, epochs: int = 50, patience: int = 5, batch_size: int = 32,
                 learning_rate: float = 1e-3, pool_logs: bool = False, pool_history: bool = False,
                 pool_epochs: int = POOL_EPOCHS, liked_flags: bool = True, threads: int = 1,
                 save_model: bool = False) -> None:
        super().__init__(epochs=epochs, patience=patience, batch_size=batch_size, learning_rate=learning_rate,
                         threads=threads, save_model=save_model,
                         checks=[("pool_epochs", pool_epochs, is_count(pool_epochs, 1), "an integer >= 1")])
        name = self.name or type(self).__name__
        if pool_epochs != POOL_EPOCHS and not pool_logs:  # it would change the key, not the result
            raise BenchError(f"{name}: pool_epochs caps the epochs over the pool logs; set pool_logs=true too "
                             f"(--param {name}.pool_logs=true) or leave pool_epochs at {POOL_EPOCHS}")
        if pool_history and not pool_logs:
            raise BenchError(f"{name}: pool_history=true adds rows to the pool logs; set pool_logs=true too "
                             f"(--param {name}.pool_logs=true) or leave pool_history false")
        self.pool_logs, self.pool_history, self.pool_epochs = pool_logs, pool_history, pool_epochs
        self.liked_flags = liked_flags
        self._users: dict[str, int] = {}
        self._items: dict[str, int] = {}

    # ---- ids and batches -------------------------------------------------------------------------
    def _build_vocabularies(self, rows: list[_Row]) -> None:
        self._users, self._items = {}, {}
        for r in rows:
            self._users.setdefault(r.user, len(self._users) + 1)
            for item_id in [i for i, _ in r.history] + [r.target]:
                self._items.setdefault(item_key(r.domain, item_id), len(self._items) + 1)

    def _ids(self, rows: list[_Row]) -> dict[str, Any]:
        """The ids every model reads: user, target, history (oldest first, left-aligned, zero-padded)
        with its liked flags and length, and the label."""
        import torch

        n = len(rows)
        users, targets = torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)
        history, liked = torch.full((n, MAX_HISTORY), PADDING, dtype=torch.long), torch.zeros((n, MAX_HISTORY),
                                                                                              dtype=torch.bool)
        lengths = torch.zeros(n, dtype=torch.long)
        unknown_users = unknown_items = 0
        for row, r in enumerate(rows):
            users[row] = self._users.get(r.user, PADDING)
            targets[row] = self._items.get(item_key(r.domain, r.target), PADDING)
            entries = r.history[-MAX_HISTORY:]
            ids = [self._items.get(item_key(r.domain, i), PADDING) for i, _ in entries]
            unknown_users += int(users[row] == PADDING)
            unknown_items += ids.count(PADDING) + int(targets[row] == PADDING)
            if ids:
                history[row, : len(ids)] = torch.tensor(ids)
                liked[row, : len(ids)] = torch.tensor([flag for _, flag in entries])
                lengths[row] = len(ids)
        self._extra.update(unknown_user_ids_last_encoded=unknown_users, unknown_item_ids_last_encoded=unknown_items)
        return {"user": users, "target": targets, "history": history, "liked": liked, "length": lengths,
                "label": torch.tensor([float(r.label) for r in rows])}

    def _fields(self, config) -> FieldTable:
        raise NotImplementedError

    def _tensors(self, ids: dict[str, Any]) -> dict[str, Any]:
        """The Interaction's columns for this model, from `_ids`."""
        raise NotImplementedError

    def _forward(self, interaction):
        """The logit (the model's `predict` is its sigmoid, which ties at float precision)."""
        raise NotImplementedError

    def _encode(self, rows: list[_Row]) -> dict[str, Any]:
        return self._tensors(self._ids(rows))

    # ---- model -----------------------------------------------------------------------------------
    def _build_model(self):
        import torch

        from bench.recbole_compat import context_models, make_config

        config = make_config(self.recbole_model, "tallrec-fewshot", {
            "MAX_ITEM_LIST_LENGTH": MAX_HISTORY, "train_neg_sample_args": None,
        })
        # Unlike the sequential models, these make tensors on config["device"] when built (DIN's feature
        # tables and attention mask) and in forward (the pooling epsilon): it must be the real device.
        config["device"] = torch.device(self._device)
        self._config = config
        model = context_models()[self.recbole_model](config, self._fields(config))
        return model.to(self._device)

    def _fit(self, train: list[Sample], valid: list[Sample], context: FitContext, generator) -> None:
        rows = [_Row.of(s) for s in train]
        if self.pool_logs:
            in_pool = {s.uid for s in context.train_pool}
            rows = _pool_rows(list(context.train_pool), self.pool_history) + [
                _Row.of(s) for s in train if s.uid not in in_pool]
        if self.needs_pairs and len(rows) < 2:
            raise BenchError(f"{self.name}: its batch normalisation needs at least 2 training rows; "
                             "choose K >= 2 (or set pool_logs=true)")
        self._build_vocabularies([_Row.of(s) for s in context.train_pool] + rows)
        self._model = self._build_model()
        self._extra.update(user_vocabulary_size=len(self._users), item_vocabulary_size=len(self._items),
                           training_rows=len(rows), model_settings=self._model_settings())
        epochs = min(self.epochs, self.pool_epochs) if self.pool_logs else self.epochs
        self._train(self._encode(rows), len(rows), valid, self._encode([_Row.of(s) for s in valid]), epochs,
                    generator)

    def _batches(self, n_rows: int, generator) -> list[Any]:
        """Near-equal batches (sizes differ by at most one): never a batch of one row while there are two."""
        import torch

        n_batches = max(1, math.ceil(n_rows / self.batch_size))
        return torch.tensor_split(torch.randperm(n_rows, generator=generator), n_batches)

    def _loss(self, batch):
        """RecBole's own loss (BCE with logits on the label field)."""
        return self._model.calculate_loss(batch)

    def _score_tensors(self, samples: list[Sample]) -> dict[str, Any]:
        return self._encode([_Row.of(s) for s in samples])

    def _checkpoint_tables(self) -> dict[str, Any]:
        return {"users": list(self._users), "items": list(self._items)}


_DATA_SEEN = """
    Data it sees: the K labelled shots (BCE training), the validation set of the train domain (early
    stopping on AUC), and the user and item ids of the train pool (vocabulary only). With
    pool_logs=true it also trains on the train pool's interaction logs: every pool sample (its
    target with its label, its history as features), for at most pool_epochs epochs; with
    pool_history=true also each pool history entry as a (user, item, liked) row of its own. Off by
    default, as in the paper's few-shot protocol. Item and user ids do not carry over to another
    domain: cross-domain cells are not applicable. Test users are never in the pool, so at score time
    the user id is always the padding entry (see methods/ctr.py).
"""


@register("deepfm")
class DeepFMFewShot(_RecBoleCTR):
    __doc__ = """RecBole DeepFM (Guo et al. 2017; CTR baseline of CoLLM arXiv 2310.19488, ReLLa arXiv 2308.11131) on the K shots: user, target, liked/disliked history.

    Reads the user id, the target item id and the history: token fields user_id and item_id, and
    token-sequence fields (mean of their item embeddings) liked_item_list and disliked_item_list
    (liked_flags=false: one item_id_list), all in RecBole's FM and deep parts.""" + _DATA_SEEN
    recbole_model = "DeepFM"

    def _fields(self, config) -> FieldTable:
        n_users, n_items = len(self._users) + 1, len(self._items) + 1
        fields = {config["USER_ID_FIELD"]: ("TOKEN", "USER_ID", n_users),
                  config["ITEM_ID_FIELD"]: ("TOKEN", "ITEM_ID", n_items)}
        for name in self._history_fields():
            fields[name] = ("TOKEN_SEQ", "INTERACTION", n_items)
        fields[config["LABEL_FIELD"]] = ("FLOAT", "INTERACTION", 1)
        return FieldTable(config, fields)

    def _history_fields(self) -> list[str]:
        return ["liked_item_list", "disliked_item_list"] if self.liked_flags else ["item_id_list"]

    def _tensors(self, ids: dict[str, Any]) -> dict[str, Any]:
        config = self._config
        out = {config["USER_ID_FIELD"]: ids["user"], config["ITEM_ID_FIELD"]: ids["target"],
               config["LABEL_FIELD"]: ids["label"]}
        if self.liked_flags:
            out["liked_item_list"] = ids["history"] * ids["liked"]
            out["disliked_item_list"] = ids["history"] * ~ids["liked"]
        else:
            out["item_id_list"] = ids["history"]
        return out

    def _forward(self, interaction):
        return self._model.forward(interaction)


@register("din")
class DINFewShot(_RecBoleCTR):
    __doc__ = """RecBole DIN (Zhou et al. 2018; CTR baseline of CoLLM arXiv 2310.19488, ReLLa arXiv 2308.11131) on the K shots: user, target, history with liked flags.

    Reads the user id (RecBole's DIN embeds it but does not use it), the target item id and the history
    item ids (item_id_list, item_length: target-aware attention over the history), and with
    liked_flags (default) each history entry's liked flag as an item-side token feature; with
    liked_flags=false it is RecBole's DIN on item ids alone. Needs at least 2 training rows (batch
    normalisation).""" + _DATA_SEEN
    recbole_model = "DIN"
    needs_pairs = True
    # Its CPU scores move with the thread count (by ~1e-3 after 5 epochs on movie): threads is in the key.
    operational_parameters = frozenset({"save_model"})

    def _fields(self, config) -> FieldTable:
        """DIN looks every history entry and the target up in an item feature table by row: rows are
        the item ids themselves, or with liked_flags (item id, flag) pairs, row = item x 4 + flag."""
        import torch
        from recbole.data.interaction import Interaction

        n_users, n_items = len(self._users) + 1, len(self._items) + 1
        user_id, item_id = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
        fields = {user_id: ("TOKEN", "USER_ID", n_users), item_id: ("TOKEN", "ITEM_ID", n_items)}
        user_feat = Interaction({user_id: torch.arange(n_users)})
        if self.liked_flags:
            rows = torch.arange(n_items * N_FLAGS)
            item_feat = Interaction({item_id: rows // N_FLAGS, "history_flag": rows % N_FLAGS})
            fields["history_flag"] = ("TOKEN", "ITEM", N_FLAGS)
        else:
            item_feat = Interaction({item_id: torch.arange(n_items)})
        return FieldTable(config, fields, user_feat, item_feat)

    def _tensors(self, ids: dict[str, Any]) -> dict[str, Any]:
        import torch

        model_fields = self._config
        history, target = ids["history"], ids["target"]
        if self.liked_flags:
            flags = torch.where(ids["liked"], LIKED_FLAG, DISLIKED_FLAG)
            history = torch.where(ids["length"][:, None] > torch.arange(MAX_HISTORY), history * N_FLAGS + flags, 0)
            target = target * N_FLAGS + TARGET_FLAG
        item_id = model_fields["ITEM_ID_FIELD"]
        return {model_fields["USER_ID_FIELD"]: ids["user"], item_id: target,
                item_id + model_fields["LIST_SUFFIX"]: history,
                # an empty history reads one padding entry, as in methods/sequential.py
                model_fields["ITEM_LIST_LENGTH_FIELD"]: ids["length"].clamp(min=1),
                model_fields["LABEL_FIELD"]: ids["label"]}

    def _forward(self, interaction):
        m = self._model
        return m.forward(interaction[m.USER_ID], interaction[m.ITEM_SEQ], interaction[m.ITEM_SEQ_LEN],
                         interaction[m.POS_ITEM_ID])
