"""FM: the factorization machine, logistic regression plus a factorised weight for every pair of fields.

Paper: *Factorization Machines*, Steffen Rendle, ICDM 2010,
https://doi.org/10.1109/ICDM.2010.127.

Stage: ranking (CTR prediction).

The idea: a pairwise model would give every pair of ids (user 17 and item 42) its own weight, and
would never learn one for a pair it has not seen. FM gives every id a vector ``v`` of width ``D``
instead and uses the dot product ``<v_i, v_j>`` as the weight of the pair, so a pair's weight is
learned from every other pair that either id took part in. On top of LR's first-order term, the
logit adds ``sum_{i<j} <v_i, v_j> x_i x_j``, and the paper's Lemma 3.1 computes that sum over all
pairs in ``O(F D)`` time instead of ``O(F^2 D)``.

Shape legend: ``B`` batch, ``L`` sequence length, ``F`` interacting fields (sparse + sequence
fields + dense columns), ``D`` embedding dim, ``P`` total width of the dense features.

Differences from the paper:

* The inputs are fields, not a free-form feature vector. A sparse field is one-hot (``x = 1``). A
  sequence field is a bag of ids with ``x = 1`` each: its first-order term sums their weights, and
  for the pairwise term the field is one vector, the sum of its ids' vectors. Every pair of ids in
  *different* fields interacts as in the paper; pairs of ids *inside* one sequence field are left
  out (they say little about a click and would grow with the square of the length).
* Every field has its own weights and vectors, even a sequence that declares ``shared_with``: as in
  the paper's Fig. 1, where the movies a user rated are other columns of ``x`` than the active movie.
* A dense column ``c`` is a real-valued feature of the paper with its own vector: it enters the
  pairwise term as ``x_c v_c``, and the first-order term as ``w_c x_c``.
* Trained with binary cross-entropy on the logit (the paper's classification loss is the same) by
  the Trainer's optimisers; the paper discusses SGD. Regularisation is ``TrainConfig.weight_decay``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import FeaturesLinear, FieldVectors, fm_interaction
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["FMConfig", "FM"]


@dataclass(frozen=True)
class FMConfig:
    """Hyper-parameters of :class:`FM`.

    Example:
        >>> FMConfig(embed_dim=16).embed_dim
        16
        >>> FMConfig(init_std=0.0)
        Traceback (most recent call last):
        ...
        ValueError: init_std must be positive (the vectors need a random start), got 0.0
    """

    embed_dim: int = 10  # BARS Frappe_x1 setting (embedding 10); the paper fixes no single k
    init_std: float = 0.01  # standard deviation of the vectors' initialisation (recnotes default)
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if not self.init_std > 0:
            raise ValueError(
                f"init_std must be positive (the vectors need a random start), got {self.init_std}"
            )


class FM(nn.Module):
    """The factorization machine over every non-label feature of the schema.

    Sparse and sequence features each give one vector (a sequence sums its ids' vectors), and each
    column of a dense feature gives its vector times its value; the logit is LR's first-order term
    (``recnotes.layers.FeaturesLinear``) plus the sum of the dot products of every pair of these
    ``F`` vectors (Eq. 3), computed in ``O(F D)`` (Eq. 4). Every field has its own tables, even a
    sequence that declares ``shared_with``.

    Args:
        schema: the features; together they must give at least two fields to pair.
        config: hyper-parameters (:class:`FMConfig`).

    Shapes:
        * ``field_vectors(batch)``: ``(B, F, D)``, the vectors ``x_i v_i`` in schema order.
        * ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_fm()
        >>> model(batch).shape, model.num_fields == 3 + 2  # 3 id fields, 2 dense columns
        (torch.Size([6]), True)
    """

    def __init__(self, schema: Schema, config: FMConfig = FMConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        dense_width = sum(schema[name].dim for name in self.dense)
        self.num_fields = len(self.fields) + dense_width
        if self.num_fields < 2:
            raise ValueError(
                f"FM pairs fields and needs at least two (sparse, sequence or dense columns); "
                f"the schema gives {self.num_fields}"
            )
        self._inputs = schema.select(self.fields + self.dense)  # what check_inputs validates
        # each field is its own block of columns of x (paper, Fig. 1): no table is shared
        own_tables = Schema([dataclasses.replace(f, shared_with=None) for f in schema])
        self.linear = FeaturesLinear(own_tables)  # w0, w_i
        self.vectors = FieldVectors(
            own_tables, config.embed_dim, init_std=config.init_std
        )  # v_i, v_c

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

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        first_order = self.linear(batch)  # Eq. (1): w0 + sum_i w_i x_i, (B,)
        v = self.field_vectors(batch)  # (B, F, D)
        second_order = fm_interaction(v)  # Eqs. (3)-(4): sum_{i<j} <v_i, v_j> in O(F D), (B,)
        return first_order + second_order  # (B,) logits

    # --8<-- [end:forward]


def tiny_fm() -> tuple[FM, dict[str, torch.Tensor]]:
    """A tiny FM and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    return FM(schema, FMConfig(embed_dim=4, init_std=0.1)), batch


SPEC = register(
    ModelSpec(
        name="fm",
        display_name="FM",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Factorization Machines",
            authors="Rendle",
            venue="ICDM",
            year=2010,
            url="https://doi.org/10.1109/ICDM.2010.127",
        ),
        cls=FM,
        config_cls=FMConfig,
        tiny=tiny_fm,
        summary="LR plus a dot product of learned vectors for every pair of fields, in O(F D).",
        status="implemented",
        note="ranking/fm.md",
    )
)
