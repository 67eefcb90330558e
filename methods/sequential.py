"""RecBole sequential recommenders on the few-shot task (the paper's GRU4Rec, Caser and SASRec rows),
and text-embedding variants of GRU4Rec and SASRec (the paper's GRU-BERT / DROS-BERT idea).

Each method is RecBole's own model class (through `bench.recbole_compat`), with RecBole's default
sizes for that model and `MAX_ITEM_LIST_LENGTH` 10. A sample's history (oldest first, liked flags
dropped: RecBole's models read item ids only) is the input sequence, its target item is the scored
item, and `model.predict` (the dot product of the sequence representation with the target item's
embedding) is the logit of a binary classifier of the label, trained with BCE on the K shots, as the
paper's baselines are. Early stopping keeps the epoch with the best AUC on the validation set of the
train domain(s). Scores are those logits.

Item vocabulary: every item in the train pool of the train domain(s) (histories and targets) plus the
shots and the validation samples, keyed by domain and item id. Index 0 is RecBole's padding entry;
an item id not in the vocabulary at score time maps to it (the ID models never crash on an unseen
item; they just know nothing about it, which on book is most test targets). The text variants have
no unknown items: an item first seen at score time gets its text vector then.

Why SASRec sits below 50 on book (measured, K=16 seeds 0-2): 72.6% of book test targets are unknown,
and they all share the padding row, which RecBole's weight init fills with random values that
`padding_idx` then keeps from training. SASRec gives that row a higher logit (mean 0.41-0.64) than
known targets (about 0), so unknown targets rank above known ones; known targets are liked slightly
more often (45.7% vs 42.5%; "target is known" alone scores AUC 0.513), hence about 0.487 overall, while
within each group its AUC is 0.47-0.53. GRU4Rec's logits for both groups are near 0, so it stays ~50.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bench.data.samples import Item, Sample, item_key
from bench.recbole_compat import MAX_HISTORY, PADDING, FieldTable
from bench.run.registry import FitContext, is_count, register
from methods.recbole_method import RecBoleMethod

ANONYMOUS_USER = 1  # samples carry no user id; Caser's user embedding becomes one learned vector


def _items(samples: list[Sample]):
    for sample in samples:
        for h in sample.history:
            yield sample.domain, h.item
        yield sample.domain, sample.target


def _text_embedding_module():
    """A drop-in for a RecBole model's `item_embedding`: frozen MiniLM vectors, trainable projection."""
    import torch
    from torch import nn

    class TextItemEmbedding(nn.Module):
        def __init__(self, vectors: torch.Tensor, dim: int) -> None:
            super().__init__()
            # Not saved with the state dict: it is the (cached) encoder output, rebuilt from item text.
            self.register_buffer("vectors", vectors, persistent=False)
            self.projection = nn.Linear(vectors.shape[1], dim, bias=False)

        def extend(self, rows: torch.Tensor) -> None:
            self.vectors = torch.cat([self.vectors, rows.to(self.vectors)])

        @property
        def weight(self) -> torch.Tensor:  # RecBole's CE loss reads item_embedding.weight
            return self.projection(self.vectors)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.projection(self.vectors[ids])

    return TextItemEmbedding


class _RecBoleSequential(RecBoleMethod):
    """Base class of the five methods; subclasses name the RecBole model and whether items are text.

    Parameters
    ----------
    pretrain_epochs : int
        Epochs of next-item pretraining on the train pool's logs before the shots (0: none, as in the paper).
    """

    family = "sequential"
    test_parameters = {"epochs": "1"}

    text_items: ClassVar[bool] = False
    setting_names = ("embedding_size", "hidden_size", "num_layers", "n_layers", "n_heads", "inner_size", "nh", "nv",
                     "dropout_prob", "hidden_dropout_prob", "attn_dropout_prob", "reg_weight", "MAX_ITEM_LIST_LENGTH")
    # Another thread count adds in another order: scores move in float32's last bits only (at most 2.4e-7
    # on the full movie test set, AUC unchanged; tested), as on another CPU. Saving the model changes no score.
    operational_parameters = frozenset({"threads", "save_model"})

    def __init__(self, *, epochs: int = 50, patience: int = 5, batch_size: int = 32,
                 learning_rate: float = 1e-3, pretrain_epochs: int = 0, threads: int = 1,
                 save_model: bool = False) -> None:
        super().__init__(epochs=epochs, patience=patience, batch_size=batch_size, learning_rate=learning_rate,
                         threads=threads, save_model=save_model, checks=[
                             ("pretrain_epochs", pretrain_epochs, is_count(pretrain_epochs, 0),
                              "an integer >= 0 (0: no pretraining)")])
        self.pretrain_epochs = pretrain_epochs
        self._vocabulary: dict[str, int] = {}

    # ---- ids and batches -------------------------------------------------------------------------
    def _build_vocabulary(self, samples: list[Sample]) -> None:
        self._vocabulary = {}
        for domain, item in _items(samples):
            self._vocabulary.setdefault(item_key(domain, item.id), len(self._vocabulary) + 1)

    def _text_rows(self, keyed_items: dict[str, tuple[str, Item]]):
        """Frozen text vectors for new vocabulary entries, in the order given."""
        import torch

        from bench.lm.text_embeddings import item_vectors

        rows = []
        by_domain: dict[str, list[Item]] = {}
        for domain, item in keyed_items.values():
            by_domain.setdefault(domain, []).append(item)
        found = {d: item_vectors(d, items, self._device) for d, items in by_domain.items()}
        for domain, item in keyed_items.values():
            rows.append(found[domain][item.id])
        return torch.from_numpy(np.stack(rows)) if rows else torch.zeros((0, 384))

    def _add_text_items(self, samples: list[Sample]) -> None:
        new: dict[str, tuple[str, Item]] = {}
        for domain, item in _items(samples):
            key = item_key(domain, item.id)
            if key not in self._vocabulary and key not in new:
                new[key] = (domain, item)
        if not new:
            return
        for key in new:
            self._vocabulary[key] = len(self._vocabulary) + 1
        self._model.item_embedding.extend(self._text_rows(new))

    def _encode(self, samples: list[Sample]) -> dict[str, Any]:
        """Tensors for RecBole: history ids left-aligned and zero-padded, its length, target, user."""
        import torch

        seq = torch.full((len(samples), MAX_HISTORY), PADDING, dtype=torch.long)
        lengths = torch.ones(len(samples), dtype=torch.long)  # an empty history reads one padding entry
        targets = torch.zeros(len(samples), dtype=torch.long)
        unknown = 0
        for row, sample in enumerate(samples):
            history = sample.history[-MAX_HISTORY:]
            ids = [self._vocabulary.get(item_key(sample.domain, h.item.id), PADDING) for h in history]
            targets[row] = self._vocabulary.get(item_key(sample.domain, sample.target.id), PADDING)
            unknown += ids.count(PADDING) + int(targets[row] == PADDING)
            if ids:
                seq[row, : len(ids)] = torch.tensor(ids)
                lengths[row] = len(ids)
        model = self._model
        self._extra["unknown_item_ids_last_scored"] = unknown
        return {model.ITEM_SEQ: seq, model.ITEM_SEQ_LEN: lengths, model.ITEM_ID: targets,
                model.USER_ID: torch.full((len(samples),), ANONYMOUS_USER, dtype=torch.long)}

    def _forward(self, interaction):
        return self._model.predict(interaction)

    # ---- model -----------------------------------------------------------------------------------
    def _build_model(self, pool_and_seen: list[Sample]):
        from bench.recbole_compat import make_config, sequential_models

        self._build_vocabulary(pool_and_seen)
        config = make_config(self.recbole_model, "tallrec-fewshot", {
            "MAX_ITEM_LIST_LENGTH": MAX_HISTORY, "loss_type": "CE", "train_neg_sample_args": None,
        })
        model_class = sequential_models()[self.recbole_model]
        fields = {config["ITEM_ID_FIELD"]: ("TOKEN", "ITEM_ID", len(self._vocabulary) + 1),
                  config["USER_ID_FIELD"]: ("TOKEN", "USER_ID", ANONYMOUS_USER + 1)}
        model = model_class(config, FieldTable(config, fields))
        if self.text_items:
            import torch

            keyed = {}
            for domain, item in _items(pool_and_seen):
                keyed.setdefault(item_key(domain, item.id), (domain, item))
            vectors = torch.cat([torch.zeros((1, 384)), self._text_rows(keyed)])  # row 0: padding
            model.item_embedding = _text_embedding_module()(vectors, model.item_embedding.embedding_dim)
        self._config = config
        return model.to(self._device)

    def _pretrain(self, pool: list[Sample], generator) -> float:
        """Next-item prediction (RecBole's CE loss) on the pool's logs: history -> the item that followed."""
        import torch

        tensors = self._encode(pool)
        optimizer = torch.optim.Adam(self._model.parameters(), lr=self.learning_rate)
        loss_value = float("nan")
        for _ in range(self.pretrain_epochs):
            self._model.train()
            order = torch.randperm(len(pool), generator=generator)
            for start in range(0, len(pool), 256):
                optimizer.zero_grad()
                loss = self._model.calculate_loss(self._interaction(tensors, order[start : start + 256]))
                loss.backward()
                optimizer.step()
                loss_value = float(loss.detach())
        return loss_value

    def _fit(self, train: list[Sample], valid: list[Sample], context: FitContext, generator) -> None:
        import torch

        self._model = self._build_model(list(context.train_pool) + list(train) + list(valid))
        self._extra.update(vocabulary_size=len(self._vocabulary), model_settings=self._model_settings())
        if self.pretrain_epochs > 0:
            self._extra["pretrain_final_loss"] = self._pretrain(list(context.train_pool), generator)
        labels = torch.tensor([s.label for s in train], dtype=torch.float32)
        shots = {**self._encode(train), self._config["LABEL_FIELD"]: labels}
        self._train(shots, len(train), valid, self._encode(valid), self.epochs, generator)

    def _batches(self, n_rows: int, generator) -> list[Any]:
        import torch

        order = torch.randperm(n_rows, generator=generator)
        return [order[start : start + self.batch_size] for start in range(0, n_rows, self.batch_size)]

    def _loss(self, batch):
        """BCE of the label on the logit: the paper's baselines as classifiers of the K shots."""
        import torch

        return torch.nn.functional.binary_cross_entropy_with_logits(self._forward(batch),
                                                                    batch[self._config["LABEL_FIELD"]])

    def _score_tensors(self, samples: list[Sample]) -> dict[str, Any]:
        if self.text_items:
            self._add_text_items(samples)
        return self._encode(samples)

    def _checkpoint_tables(self) -> dict[str, Any]:
        return {"vocabulary": list(self._vocabulary)}


_DATA_SEEN = """
    Data it sees: the K labelled shots (BCE training), the validation set of the train domain(s)
    (early stopping on AUC), and the item ids of the train pool (vocabulary only). With
    pretrain_epochs > 0 it first trains on the train pool's interaction logs by next-item prediction
    (each pool sample's history -> its target item; labels unused); off by default, as in the paper.
"""


@register("gru4rec")
class GRU4RecFewShot(_RecBoleSequential):
    __doc__ = """RecBole GRU4Rec trained on the K shots as a classifier of the label (paper row GRU4Rec).
    Item ids do not carry over to another domain: cross-domain cells are not applicable.""" + _DATA_SEEN
    recbole_model = "GRU4Rec"


@register("caser")
class CaserFewShot(_RecBoleSequential):
    __doc__ = """RecBole Caser trained on the K shots as a classifier of the label (paper row Caser).
    Samples have no user id: every sample is one anonymous user, so Caser's user embedding is one
    learned vector. Cross-domain cells are not applicable.""" + _DATA_SEEN
    recbole_model = "Caser"


@register("sasrec")
class SASRecFewShot(_RecBoleSequential):
    __doc__ = """RecBole SASRec trained on the K shots as a classifier of the label (paper row SASRec).
    Item ids do not carry over to another domain: cross-domain cells are not applicable.""" + _DATA_SEEN
    recbole_model = "SASRec"


class _TextSequential(_RecBoleSequential):
    """A sequential model whose item embeddings are frozen text vectors, so it works across domains."""

    reads = frozenset({"sample", "shots", "pool", "item-text"})
    text_items = True
    cross_domain = True


_TEXT_ITEMS = """
    Item embeddings are the encoder's vectors of the item text (title; books: title and author), frozen,
    through a trainable projection. Works across domains: any item with a title has a vector."""


@register("gru4rec-text")
class GRU4RecText(_TextSequential):
    __doc__ = ("RecBole GRU4Rec on frozen all-MiniLM-L6-v2 item-text vectors, trained on the K shots (GRU-BERT idea)."
               + _TEXT_ITEMS + _DATA_SEEN)
    recbole_model = "GRU4Rec"


@register("sasrec-text")
class SASRecText(_TextSequential):
    __doc__ = ("RecBole SASRec on frozen all-MiniLM-L6-v2 item-text vectors, trained on the K shots (DROS-BERT idea)."
               + _TEXT_ITEMS + _DATA_SEEN)
    recbole_model = "SASRec"
