"""Embedding&MLP: embed every field, pool the variable-length ones, concatenate, MLP to a logit.

Paper: the "base model" of *Deep Interest Network for Click-Through Rate Prediction*, Guorui Zhou,
Chengru Song, Xiaoqiang Zhu, Ying Fan, Han Zhu, Xiao Ma, Yanghui Yan, Junqi Jin, Han Li and Kun Gai,
KDD 2018, https://arxiv.org/abs/1706.06978 (Sec. 4.2). The same network is the "DNN" baseline of the
DCN-V2 paper (Wang et al., WWW 2021), whose MovieLens-1M protocol recnotes reproduces.

Stage: ranking (CTR prediction).

The idea: every categorical field (user id, item id, gender, ...) is looked up in its own embedding
table, and every variable-length field (a behaviour history, a movie's genres) is looked up id by id
and pooled into one vector of the same width. The vectors are concatenated, together with any dense
features, into one wide input, and a multilayer perceptron maps it to a single click logit. All
feature interactions are left to the MLP to learn implicitly; the models that follow it (Wide&Deep,
DeepFM, DCN, DIN) each add an explicit mechanism to this template.

Shape legend: ``B`` batch, ``L`` sequence length, ``D`` embedding dim, ``F`` embedded fields (sparse
plus sequence), ``P`` total width of the dense features, ``H`` a hidden width.

Differences from the paper:

* One output logit trained with binary cross-entropy; the paper's network ends in a two-way softmax,
  which is the same model (a softmax over two logits is the sigmoid of their difference).
* The hidden activation defaults to ReLU, as in the DCN-V2 paper's DNN; the DIN paper's base model
  uses PReLU (``activation="prelu"``). DIN's Dice activation and mini-batch aware regularisation are
  contributions of the DIN model, not of the base model, and are not part of this file.
* Sequence fields are sum-pooled by default, as in the paper's base model; ``pooling="mean"`` divides
  by the number of non-padding ids instead.
* Dense features are appended to the concatenation unchanged; the paper's base model has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import MLP, FeatureEmbedding, masked_mean
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["EmbeddingMLPConfig", "EmbeddingMLP", "pool_sequence"]

_POOLINGS = ("sum", "mean")
_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")


@dataclass(frozen=True)
class EmbeddingMLPConfig:
    """Hyper-parameters of :class:`EmbeddingMLP`.

    Example:
        >>> EmbeddingMLPConfig(hidden=(64, 32)).hidden
        (64, 32)
        >>> EmbeddingMLPConfig(pooling="max")
        Traceback (most recent call last):
        ...
        ValueError: pooling must be 'sum' or 'mean' (how a sequence field becomes one vector), got 'max'
    """

    embed_dim: int = 30  # DCN-V2 paper, MovieLens-1M setting: embedding size 30
    hidden: tuple[int, ...] = (400, 400, 400)  # recnotes choice, not tuned (see the note's results)
    activation: str = "relu"  # DCN-V2's DNN; the DIN paper's base model uses "prelu"
    dropout: float = 0.0  # none: early stopping on validation AUC is the regulariser
    batch_norm: bool = False  # off: rows stay independent in training as in serving
    pooling: str = "sum"  # DIN paper, Fig. 2: the base model sum-pools the behaviour sequence
    init_std: float = 0.01  # standard deviation of the embedding initialisation (recnotes default)
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # JSON configs (checkpoints, --set) hold lists
            object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"every hidden width must be at least 1, got {self.hidden}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")
        if self.pooling not in _POOLINGS:
            raise ValueError(
                "pooling must be 'sum' or 'mean' (how a sequence field becomes one vector), "
                f"got {self.pooling!r}"
            )
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


# --8<-- [start:pool]
def pool_sequence(vectors: torch.Tensor, mask: torch.Tensor, pooling: str = "sum") -> torch.Tensor:
    """Eq. (2): one vector per row from ``vectors (B, L, D)`` over the positions where ``mask``.

    Example:
        >>> v = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> keep = torch.tensor([[True, True, False]])
        >>> pool_sequence(v, keep, "sum").tolist(), pool_sequence(v, keep, "mean").tolist()
        ([[4.0]], [[2.0]])
    """
    if pooling == "mean":
        return masked_mean(vectors, mask)  # an all-padding row pools to zeros
    return (vectors * mask.unsqueeze(-1).to(vectors.dtype)).sum(dim=1)  # padding must not vote


# --8<-- [end:pool]


class EmbeddingMLP(nn.Module):
    """The Embedding&MLP click model (the DIN paper's base model, DCN-V2's "DNN").

    Every non-label feature of the schema is an input, in schema order: sparse and sequence features
    are embedded (sequences pooled, Eq. 2), dense features are appended, and an MLP maps the
    concatenation to one logit. To use fewer features, build the model with
    ``schema.select([...])``.

    Args:
        schema: the features; needs at least one sparse or sequence feature.
        config: hyper-parameters (:class:`EmbeddingMLPConfig`).

    Shapes:
        * ``embed(batch)``: ``(B, F * D + P)``, the blocks in schema order (Eq. 3).
        * ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_embedding_mlp()
        >>> model(batch).shape, model.input_dim == 3 * 4 + 2
        (torch.Size([6]), True)
    """

    def __init__(self, schema: Schema, config: EmbeddingMLPConfig = EmbeddingMLPConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        if not self.fields:
            raise ValueError("EmbeddingMLP needs at least one sparse or sequence feature to embed")
        self._inputs = schema.select(self.fields + self.dense)  # what check_inputs validates
        self.embedding = FeatureEmbedding(
            schema, config.embed_dim, self.fields, init_std=config.init_std
        )
        dense_width = sum(schema[name].dim for name in self.dense)
        self.input_dim = len(self.fields) * config.embed_dim + dense_width
        self.mlp = MLP(
            self.input_dim,
            config.hidden,
            out_dim=1,
            activation=config.activation,
            dropout=config.dropout,
            batch_norm=config.batch_norm,
        )

    # --8<-- [start:embed]
    def embed(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eqs. (1)-(3): the concatenation ``[e_1; ...; e_F; dense]`` that the MLP reads."""
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        blocks = []
        for name in self.fields:
            ids = batch[name]
            e = self.embedding.embed(name, ids)  # Eq. (1): (B, D), or (B, L, D) for a sequence
            if e.dim() == 3:
                e = pool_sequence(e, ids != 0, self.config.pooling)  # Eq. (2): (B, L, D) -> (B, D)
            blocks.append(e)
        for name in self.dense:
            x = batch[name].to(blocks[0].dtype)
            blocks.append(x.unsqueeze(-1) if x.dim() == 1 else x)  # (B,) -> (B, 1)
        return torch.cat(blocks, dim=-1)  # Eq. (3): (B, F * D + P)

    # --8<-- [end:embed]

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        h0 = self.embed(batch)  # (B, F * D + P)
        return self.mlp(h0).squeeze(-1)  # Eqs. (4)-(5): (B, H) ... -> (B, 1) -> (B,) logits

    # --8<-- [end:forward]


def tiny_embedding_mlp() -> tuple[EmbeddingMLP, dict[str, torch.Tensor]]:
    """A tiny model and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    config = EmbeddingMLPConfig(embed_dim=4, hidden=(8, 4), init_std=0.1)
    return EmbeddingMLP(schema, config), batch


SPEC = register(
    ModelSpec(
        name="embedding-mlp",
        display_name="Embedding&MLP",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Deep Interest Network for Click-Through Rate Prediction (base model)",
            authors="Zhou et al.",
            venue="KDD",
            year=2018,
            url="https://arxiv.org/abs/1706.06978",
        ),
        cls=EmbeddingMLP,
        config_cls=EmbeddingMLPConfig,
        tiny=tiny_embedding_mlp,
        summary="Embed every field, pool sequences, concatenate, and let an MLP find the interactions.",
        status="reproduced",  # results/ml-1m/embedding-mlp-dcnv2.json: test AUC within 0.005
        note="ranking/embedding_mlp.md",
    )
)
