"""NFM: the neural factorization machine, an MLP on top of FM's pooled pairwise products.

Paper: *Neural Factorization Machines for Sparse Predictive Analytics*, Xiangnan He and Tat-Seng
Chua, SIGIR 2017, https://arxiv.org/abs/1708.05027.

Stage: ranking (CTR prediction).

The idea: FM adds up ``<v_i, v_j>`` over every pair of fields, a sum of numbers that is linear in
each pair's product. NFM stops one step earlier: the Bi-Interaction pooling adds up the
element-wise products ``v_i * v_j`` into one vector of width ``D`` (still in ``O(F D)`` time, by
the same identity as FM), and a small MLP reads that vector, so the pairwise interactions can be
combined non-linearly (higher-order effects). With no hidden layer and a projection of ones, NFM is
exactly FM. Batch normalisation and dropout on the pooled vector are what make it train well.

Shape legend: ``B`` batch, ``L`` sequence length, ``F`` interacting fields (sparse + sequence
fields + dense columns), ``D`` embedding dim, ``P`` total width of the dense features, ``H`` a
hidden width.

Differences from the paper:

* The inputs are fields, as in recnotes' FM. A sparse field is one-hot (``x = 1``); a sequence field
  is a bag of ids with ``x = 1`` each, its vector the sum of its ids' vectors (pairs of ids *inside*
  one sequence are left out); a dense column ``c`` has its own vector and enters as ``x_c v_c``, and
  its first-order term as ``w_c x_c``.
* Trained with binary cross-entropy on the logit; the paper's experiments use the squared loss on
  +-1 targets with Adagrad and report RMSE.
* The prediction layer ``h`` is learned from a random start; the paper can initialise the
  embeddings from a trained FM (pre-training), which recnotes does not do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import MLP, FeaturesLinear, FieldVectors, bi_interaction
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["NFMConfig", "NFM"]

_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")


@dataclass(frozen=True)
class NFMConfig:
    """Hyper-parameters of :class:`NFM`.

    Example:
        >>> NFMConfig(hidden=(32,)).hidden
        (32,)
        >>> NFMConfig(bi_dropout=1.0)
        Traceback (most recent call last):
        ...
        ValueError: bi_dropout is a probability in [0, 1), got 1.0
    """

    embed_dim: int = 64  # paper's experiments and the authors' Frappe command: 64 factors
    hidden: tuple[int, ...] = (
        64,
    )  # paper: NFM-1, one hidden layer (authors' Frappe command: [64])
    activation: str = "relu"  # paper and the authors' Frappe command: ReLU
    bi_dropout: float = 0.5  # authors' Frappe command: keep_prob 0.5 on the Bi-Interaction layer
    dropout: float = 0.2  # authors' Frappe command: keep_prob 0.8 on the hidden layer
    batch_norm: bool = True  # paper: BN on the Bi-Interaction output and hidden layers
    init_std: float = 0.01  # standard deviation of the embedding initialisation (authors' code)
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
        for name in ("bi_dropout", "dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} is a probability in [0, 1), got {value}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


class NFM(nn.Module):
    """The neural factorization machine: LR's first-order term plus an MLP on the Bi-Interaction.

    Every non-label feature of the schema is an input. Sparse and sequence fields are embedded (a
    sequence is the sum of its ids' vectors); each column of a dense feature gives its vector
    times its value, and its value times a weight in the first-order term.

    Args:
        schema: the features; they must give at least two fields (sparse, sequence or dense
            columns) to form a pair.
        config: hyper-parameters (:class:`NFMConfig`).

    Shapes:
        * ``field_vectors(batch)``: ``(B, F, D)``, the set ``{x_i v_i}`` (Eq. 2).
        * ``bi_interaction(batch)``: ``(B, D)``, the pooled pairwise products (Eq. 3).
        * ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_nfm()
        >>> model(batch).shape, model.num_fields == 3 + 2  # 3 id fields, 2 dense columns
        (torch.Size([6]), True)
    """

    def __init__(self, schema: Schema, config: NFMConfig = NFMConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        dense_width = sum(schema[name].dim for name in self.dense)
        self.num_fields = len(self.fields) + dense_width
        if self.num_fields < 2:
            raise ValueError(
                "NFM pairs fields and needs at least two (sparse, sequence or dense columns); "
                f"the schema gives {self.num_fields}"
            )
        self._inputs = schema.select(self.fields + self.dense)  # what check_inputs validates
        D = config.embed_dim
        self.linear = FeaturesLinear(schema)  # w0, w_i
        self.vectors = FieldVectors(schema, D, init_std=config.init_std)  # v_i, v_c
        self.bi_norm = nn.BatchNorm1d(D) if config.batch_norm else nn.Identity()
        self.bi_dropout = nn.Dropout(config.bi_dropout)
        self.mlp = MLP(
            D,
            config.hidden,
            activation=config.activation,
            dropout=config.dropout,
            batch_norm=config.batch_norm,
        )
        self.predict = nn.Linear(self.mlp.out_dim, 1, bias=False)  # h; w0 is the only bias

    def field_vectors(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (2): one vector ``x_i v_i`` per field, ``(B, F, D)`` (``recnotes.layers.FieldVectors``)."""
        return self.vectors(batch)

    @property
    def embedding(self) -> nn.Module:
        """The id vectors ``v_i`` (a ``FeatureEmbedding``)."""
        return self.vectors.embedding

    @property
    def dense_vectors(self) -> nn.Parameter | None:
        """The vectors ``v_c`` of the dense columns, ``(P, D)``, or None."""
        return self.vectors.dense_vectors

    def bi_interaction(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (3): the Bi-Interaction pooling ``sum_{i<j} x_i v_i * x_j v_j``, ``(B, D)``."""
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        return bi_interaction(self.field_vectors(batch))

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        f_bi = self.bi_interaction(batch)  # Eq. (3): (B, D), in O(F D)
        f_bi = self.bi_dropout(self.bi_norm(f_bi))  # BN, then dropout on the pooled vector
        z = self.mlp(f_bi)  # Eq. (4): (B, H_1) ... (B, H_K), each Linear -> BN -> act -> dropout
        first_order = self.linear(batch)  # Eq. (1): w0 + sum_i w_i x_i, (B,)
        return first_order + self.predict(z).squeeze(-1)  # Eq. (5): (B,) logits

    # --8<-- [end:forward]


def tiny_nfm() -> tuple[NFM, dict[str, torch.Tensor]]:
    """A tiny NFM and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    config = NFMConfig(embed_dim=4, hidden=(8,), init_std=0.1)
    return NFM(schema, config), batch


SPEC = register(
    ModelSpec(
        name="nfm",
        display_name="NFM",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Neural Factorization Machines for Sparse Predictive Analytics",
            authors="He and Chua",
            venue="SIGIR",
            year=2017,
            url="https://arxiv.org/abs/1708.05027",
        ),
        cls=NFM,
        config_cls=NFMConfig,
        tiny=tiny_nfm,
        summary="Pool the element-wise products of every field pair into one vector; an MLP reads it.",
        status="reproduced",  # results/frappe/nfm.json: test AUC within 0.003 of BARS (3 seeds)
        note="ranking/nfm.md",
    )
)
