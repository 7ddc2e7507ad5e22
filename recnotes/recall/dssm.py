"""DSSM: the two-tower retriever, trained with a sampling-bias-corrected in-batch softmax.

Papers: Po-Sen Huang, Xiaodong He, Jianfeng Gao, Li Deng, Alex Acero and Larry Heck, "Learning Deep
Structured Semantic Models for Web Search using Clickthrough Data", CIKM 2013,
https://doi.org/10.1145/2505515.2505665 (the two towers); Xinyang Yi, Ji Yang, Lichan Hong,
Derek Zhiyuan Cheng, Lukasz Heldt, Aditee Kumthekar, Zhe Zhao, Li Wei and Ed Chi,
"Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations", RecSys 2019,
https://doi.org/10.1145/3298689.3346996 (in-batch softmax with the log-Q correction).

Stage: recall (family ``recall``).

DSSM encodes the two sides of a match separately: a user tower maps the user's features (ids,
profile, the pooled watch history) to one vector, an item tower maps the item's features to a
vector of the same width, and the score is their inner product. Because the towers never see each
other's input, every item vector can be computed once and indexed, and serving is one user-tower
pass plus a nearest-neighbour search. Training treats the other items of the mini-batch as the
negatives of a softmax; since popular items appear in more batches, they are pushed down more often
than they deserve, and Yi et al. subtract each item's log sampling probability from its logit to
undo that bias (the log-Q correction).

Shape legend: ``B`` batch, ``L`` history length, ``E`` embedding width, ``F`` fields of a tower,
``D`` output width of both towers, ``N`` catalogue rows.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/dssm.md``.

Differences from the papers:

- Inputs: Huang et al. hash query and document text into letter trigrams; here each tower embeds
  the categorical features of its side (``item_*`` features for the item tower, every other
  feature for the user tower) and mean-pools sequence features such as ``history_ids``.
- Score: Huang et al. score by cosine similarity and a softmax with a smoothing factor; that is
  ``normalize=True`` with ``temperature = 1 / smoothing``. Their negatives are four random
  unclicked documents per query; here the other rows of the batch are the negatives (Yi et al.).
- Sampling probability: Yi et al. estimate ``q_j`` from the stream with a hashed frequency sketch;
  here ``q_j`` is the exact training frequency of item ``j`` (``set_item_counts``), which the
  offline datasets make available.
- No per-example reward weights (Yi et al. weight the loss by watch time); every click counts once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from recnotes.data import Schema
from recnotes.data.retrieval import item_side, retrieval_synthetic, user_side
from recnotes.layers import MLP, FeatureEmbedding
from recnotes.losses import bpr, in_batch_softmax, log_q
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["DSSMConfig", "DSSM", "Tower"]

_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")
_LOSSES = ("softmax", "bpr")


@dataclass(frozen=True)
class DSSMConfig:
    """Hyper-parameters of :class:`DSSM`.

    Example:
        >>> DSSMConfig(hidden=(256, 64)).hidden
        (256, 64)
        >>> DSSMConfig(loss="hinge")
        Traceback (most recent call last):
        ...
        ValueError: loss must be 'softmax' (in-batch softmax) or 'bpr' (pairwise), got 'hinge'
    """

    embed_dim: int = 64  # width of every feature embedding (recnotes choice for CPU)
    hidden: tuple[int, ...] = (128, 64)  # tower widths; the last is the output width D
    activation: str = "relu"  # between tower layers; the last layer is linear
    dropout: float = 0.0  # after each hidden activation
    normalize: bool = True  # L2-normalise both towers' outputs (Yi et al.; DSSM's cosine)
    temperature: float = 0.05  # divides the scores; a common value for unit vectors (tuned)
    loss: str = "softmax"  # "softmax": in-batch softmax (Yi et al.); "bpr": pairwise
    log_q: bool = True  # subtract log q_j from in-batch logits (Yi et al., Eq. 3)
    user_features: tuple[str, ...] | None = None  # None: every user-side feature
    item_features: tuple[str, ...] | None = None  # None: every item-side feature (item_*)
    init_std: float = 0.01  # standard deviation of the embedding initialisation
    check_inputs: bool = True  # validate batches against the schema (named errors)

    def __post_init__(self) -> None:
        for name in ("hidden", "user_features", "item_features"):
            if isinstance(getattr(self, name), list):  # JSON configs and --set hold lists
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(
                f"hidden needs at least one width (the last is the output width), got {self.hidden}"
            )
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a positive number, got {self.temperature}")
        if self.loss not in _LOSSES:
            raise ValueError(
                f"loss must be 'softmax' (in-batch softmax) or 'bpr' (pairwise), got {self.loss!r}"
            )
        if self.log_q and self.loss != "softmax":
            raise ValueError("log_q corrects the in-batch softmax; set log_q=False with loss='bpr'")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


# --8<-- [start:tower]
class Tower(nn.Module):
    """Eqs. (1)-(2): embed one side's features, concatenate, MLP to ``D`` (optionally unit length)."""

    def __init__(self, schema: Schema, fields: Sequence[str], config: DSSMConfig) -> None:
        super().__init__()
        for name in fields:
            if schema[name].kind not in ("sparse", "sequence"):
                raise ValueError(
                    f"feature '{name}' is {schema[name].kind}; a DSSM tower embeds sparse and "
                    "sequence features only"
                )
        self.fields = list(fields)
        self.inputs = schema.select(self.fields)  # what check_inputs validates
        self.embedding = FeatureEmbedding(schema, config.embed_dim, self.fields,
                                          init_std=config.init_std)  # fmt: skip
        *widths, out = config.hidden
        self.mlp = MLP(len(self.fields) * config.embed_dim, widths, out_dim=out,
                       activation=config.activation, dropout=config.dropout)  # fmt: skip
        self.normalize = config.normalize

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = self.embedding(batch).flatten(1)  # Eq. (1): (B, F, E) -> (B, F * E), sequences pooled
        out = self.mlp(x)  # Eq. (2): (B, D)
        return F.normalize(out, dim=-1) if self.normalize else out


# --8<-- [end:tower]


class DSSM(nn.Module):
    """The two-tower retriever: ``score(u, i) = <user_tower(u), item_tower(i)> / temperature``.

    The user tower reads the user-side features of the schema (every feature not named ``item_*``,
    ``history_ids`` mean-pooled), the item tower the item-side features; each tower has its own
    embedding tables. ``loss`` is the in-batch softmax of Yi et al. (Eq. 4) with the log-Q
    correction (Eq. 5), or BPR against another row's item.

    Args:
        schema: the features of the user and item batches (``RetrievalData.schema``).
        config: hyper-parameters (:class:`DSSMConfig`).

    Shapes:
        * ``user_embedding(batch)``: ``(B, D)``.
        * ``item_embedding(batch)``: ``(N, D)`` for ``N`` rows of item features.
        * ``loss(batch)``: ``()``, on a training batch (user-side and target-item columns).

    Returns:
        Raw vectors; the retrieval score is their inner product (unit vectors with ``normalize``).

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_dssm()
        >>> model.user_embedding(batch).shape, model.item_embedding(batch).shape
        (torch.Size([16, 8]), torch.Size([16, 8]))
        >>> bool(model.loss(batch) > 0)
        True
    """

    def __init__(self, schema: Schema, config: DSSMConfig = DSSMConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        user = list(config.user_features) if config.user_features is not None else user_side(schema)
        item = list(config.item_features) if config.item_features is not None else item_side(schema)
        for name in user:
            if name not in schema or name.startswith("item_"):
                raise ValueError(f"user feature '{name}' must be a user-side feature of the schema")
        for name in item:
            if name not in schema or not name.startswith("item_"):
                raise ValueError(f"item feature '{name}' must be an item_* feature of the schema")
        if not user or not item:
            raise ValueError("DSSM needs at least one user-side and one item-side feature")
        if "item_ids" not in schema:
            raise ValueError("DSSM needs 'item_ids' in the schema (the id of each row's item)")
        self.user_tower = Tower(schema, user, config)
        self.item_tower = Tower(schema, item, config)
        # log q_j of every item id; NaN until set_item_counts (log_q needs real frequencies)
        vocab = schema["item_ids"].vocab_size
        self.register_buffer("item_log_q", torch.full((vocab,), float("nan")))

    def set_item_counts(self, counts: torch.Tensor) -> None:
        """Store ``log q_j`` from each item's training frequency (``RetrievalData.item_counts``)."""
        counts = torch.as_tensor(counts)
        if counts.shape != self.item_log_q.shape:
            raise ValueError(
                f"item_counts needs one count per item id ({self.item_log_q.shape[0]}), "
                f"got shape {tuple(counts.shape)}"
            )
        self.item_log_q.copy_(log_q(counts))

    def _check(self, tower: Tower, batch: Mapping[str, torch.Tensor]) -> None:
        if self.config.check_inputs:
            tower.inputs.validate(batch)  # BatchError names the feature, not an IndexError

    # --8<-- [start:embeddings]
    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (2), user side: ``(B, D)``."""
        self._check(self.user_tower, batch)
        return self.user_tower(batch)

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (2), item side: ``(N, D)``."""
        self._check(self.item_tower, batch)
        return self.item_tower(batch)

    # --8<-- [end:embeddings]

    # --8<-- [start:loss]
    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eqs. (3)-(5): in-batch softmax (log-Q corrected) or BPR over a training batch."""
        user = self.user_embedding(batch)  # (B, D)
        item = self.item_embedding(batch)  # (B, D): each row's positive item
        ids = batch["item_ids"]
        t = self.config.temperature
        if self.config.loss == "softmax":
            correction = None
            if self.config.log_q:
                if torch.isnan(self.item_log_q[0]):
                    raise RuntimeError(
                        "log_q=True needs the items' training frequencies: call "
                        "model.set_item_counts(data.item_counts) first (or set log_q=False)"
                    )
                correction = self.item_log_q[ids]  # (B,) log q_j of each column's item
            return in_batch_softmax(user, item, ids, temperature=t, item_log_q=correction)
        # BPR: row i's negative is row i-1's item; a row whose neighbour has the same item is
        # an accidental hit (its "negative" is its positive) and does not count.
        neg_item, neg_ids = item.roll(1, dims=0), ids.roll(1, dims=0)
        keep = neg_ids != ids  # (B,)
        pos = (user * item).sum(-1) / t  # Eq. (3)
        neg = (user * neg_item).sum(-1) / t
        if not bool(keep.any()):
            return (pos - neg).sum() * 0.0  # every pair an accidental hit: nothing to learn
        return bpr(pos[keep], neg[keep])

    # --8<-- [end:loss]


@functools.lru_cache(maxsize=1)
def _tiny_data():
    return retrieval_synthetic(num_users=40, num_items=30, max_len=5, seed=0)


def tiny_dssm() -> tuple[DSSM, dict[str, torch.Tensor]]:
    """A tiny DSSM on the small synthetic retrieval data and its first 16 training rows."""
    data = _tiny_data()
    model = DSSM(data.schema, DSSMConfig(embed_dim=4, hidden=(8, 8), init_std=0.1))
    model.set_item_counts(data.item_counts)
    return model, data.train[torch.arange(16)]


SPEC = register(
    ModelSpec(
        name="dssm",
        display_name="DSSM",
        stage="recall",
        family="recall",
        paper=Paper(
            title="Learning Deep Structured Semantic Models for Web Search using Clickthrough Data",
            authors="Huang et al.",
            venue="CIKM",
            year=2013,
            url="https://doi.org/10.1145/2505515.2505665",
        ),
        cls=DSSM,
        config_cls=DSSMConfig,
        tiny=tiny_dssm,
        summary="Two towers, one inner product: item vectors are indexed offline; in-batch "
        "softmax with the log-Q correction.",
        status="implemented",
        note="recall/dssm.md",
    )
)
