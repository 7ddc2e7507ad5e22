"""FFM: the field-aware factorization machine, one latent vector per id *and per field it meets*.

Paper: *Field-aware Factorization Machines for CTR Prediction*, Yuchin Juan, Yong Zhuang, Wei-Sheng
Chin and Chih-Jen Lin, RecSys 2016, https://doi.org/10.1145/2959100.2959134. Its use in production
is described in *Field-aware Factorization Machines in a Real-world Online Advertising System*, Yuchin
Juan, Damien Lefortier and Olivier Chapelle, WWW 2017 (companion), https://arxiv.org/abs/1701.04099.

Stage: ranking (CTR prediction).

The idea: in FM an id has one vector, used against every other field, so the vector of an
advertiser must serve its interaction with the publisher and with the user's gender at once. FFM
gives each id one vector per other field: the pair (i, j) is weighted by ``<v_{i,f_j}, v_{j,f_i}>``,
the vector that i keeps for j's field against the vector that j keeps for i's field. The model has
``F - 1`` times FM's parameters per id, usually with a much smaller ``D``, and the pair sum no
longer factorises: it costs ``O(F^2 D)`` per row.

Shape legend: ``B`` batch, ``L`` sequence length, ``F`` interacting fields (sparse + sequence
fields + dense columns), ``D`` embedding dim per field-aware vector, ``P`` total width of the dense
features, ``Q = F (F - 1) / 2`` field pairs.

Differences from the paper:

* The paper's equation has only the pairwise term (it leaves the linear term and the bias out);
  recnotes adds LR's first-order term by default (``linear=True``); ``linear=False`` is the paper's
  equation.
* Inputs are fields. A sequence field is a bag of ids with ``x = 1`` each and one field: its
  field-aware vectors are the sums of its ids' vectors, so pairs of ids inside one sequence do not
  interact. Each id therefore needs ``F - 1`` vectors, not ``F``. A dense column is a field of its
  own whose vectors are scaled by its value.
* Every field has its own tables, even a sequence that declares ``shared_with`` another feature:
  its ids are other columns of ``x``, and a field-aware vector belongs to one field.
* The paper trains with AdaGrad-style SGD, L2 regularisation, uniform initialisation in
  ``[0, 1/sqrt(D)]`` and instance-wise normalisation of ``x``; recnotes uses the Trainer's optimisers
  (``TrainConfig.weight_decay`` for L2), a normal initialisation, and no normalisation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import FeatureEmbedding, FeaturesLinear, pair_indices
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["FFMConfig", "FFM"]


@dataclass(frozen=True)
class FFMConfig:
    """Hyper-parameters of :class:`FFM`.

    Example:
        >>> FFMConfig().embed_dim
        4
        >>> FFMConfig(embed_dim=0)
        Traceback (most recent call last):
        ...
        ValueError: embed_dim must be at least 1, got 0
    """

    embed_dim: int = 4  # FFM paper, Sec. 4: k = 4 for Criteo and Avazu
    linear: bool = True  # recnotes default; False is the paper's Eq. (4) (pairwise term only)
    init_std: float = 0.01  # standard deviation of the vectors' initialisation (recnotes default)
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if not self.init_std > 0:
            raise ValueError(
                f"init_std must be positive (the vectors need a random start), got {self.init_std}"
            )


# --8<-- [start:pairs]
def field_aware_pairs(num_fields: int) -> torch.Tensor:
    """Eq. (5): where ``v_{i,f_j}`` and ``v_{j,f_i}`` sit in the flattened ``(F * (F - 1))`` slots.

    Field ``i`` keeps ``F - 1`` vectors, one per other field in schema order, so the slot of field
    ``j`` in field ``i``'s row is ``j - 1`` when ``j > i`` and ``j`` when ``j < i``. For each pair
    ``i < j`` the result holds first the slot of ``v_{i,f_j}``, then (after all ``Q`` pairs) that of
    ``v_{j,f_i}``.

    Example:
        >>> field_aware_pairs(3).view(2, -1).tolist()  # pairs (0,1), (0,2), (1,2); 2 slots each
        [[0, 1, 3], [2, 4, 5]]
    """
    i, j = pair_indices(num_fields)  # (Q,), (Q,) with i < j
    left = i * (num_fields - 1) + (j - 1)  # v_{i, f_j}
    right = j * (num_fields - 1) + i  # v_{j, f_i}
    return torch.cat([left, right])  # (2Q,)


# --8<-- [end:pairs]


class FFM(nn.Module):
    """The field-aware factorization machine over every non-label feature of the schema.

    Every sparse and sequence field, and every column of a dense feature, is one of ``F`` fields.
    Each id keeps ``F - 1`` vectors of width ``D`` (one embedding row of width ``(F - 1) D``), one
    for each other field; the logit is the sum over field pairs of ``<v_{i,f_j}, v_{j,f_i}>``
    (Eq. 4), plus LR's first-order term when ``config.linear``.

    Args:
        schema: the features; together they must give at least two fields to pair.
        config: hyper-parameters (:class:`FFMConfig`).

    Shapes:
        * ``field_aware_vectors(batch)``: ``(B, F, F - 1, D)``; ``[:, i, s]`` is field ``i``'s
          vector for its ``s``-th other field, times ``x``.
        * ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_ffm()
        >>> model(batch).shape, model.field_aware_vectors(batch).shape  # F = 3 id fields + 2 dense
        (torch.Size([6]), torch.Size([6, 5, 4, 3]))
    """

    def __init__(self, schema: Schema, config: FFMConfig = FFMConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        dense_width = sum(schema[name].dim for name in self.dense)
        self.num_fields = F = len(self.fields) + dense_width
        if F < 2:
            raise ValueError(
                f"FFM pairs fields and needs at least two (sparse, sequence or dense columns); "
                f"the schema gives {F}"
            )
        self._inputs = schema.select(self.fields + self.dense)  # what check_inputs validates
        # each field is its own block of columns of x, and a field-aware vector belongs to one field
        own_tables = Schema([dataclasses.replace(f, shared_with=None) for f in schema])
        self.linear = FeaturesLinear(own_tables) if config.linear else None  # w0, w_i
        self.embedding = FeatureEmbedding(
            own_tables, (F - 1) * config.embed_dim, self.fields, init_std=config.init_std
        )  # one row of F - 1 vectors per id
        self.dense_vectors = (
            nn.Parameter(torch.randn(dense_width, F - 1, config.embed_dim) * config.init_std)
            if dense_width
            else None
        )
        self.register_buffer("pair_slots", field_aware_pairs(F), persistent=False)

    # --8<-- [start:vectors]
    def field_aware_vectors(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (3): every field's ``F - 1`` vectors times its ``x``, ``(B, F, F - 1, D)``."""
        F, D = self.num_fields, self.config.embed_dim
        vectors = []
        for name in self.fields:
            ids = batch[name]
            v = self.embedding.embed(name, ids)  # (B, (F-1) D), or (B, L, (F-1) D)
            if v.dim() == 3:
                v = (v * (ids != 0).unsqueeze(-1).to(v.dtype)).sum(dim=1)  # padding must not vote
            vectors.append(v.view(-1, 1, F - 1, D))
        if self.dense_vectors is not None:
            x = [batch[n].to(self.dense_vectors.dtype) for n in self.dense]
            x = torch.cat([t.unsqueeze(-1) if t.dim() == 1 else t for t in x], dim=-1)  # (B, P)
            vectors.append(x[:, :, None, None] * self.dense_vectors)  # (B, P, F-1, D)
        return torch.cat(vectors, dim=1)  # (B, F, F-1, D)

    # --8<-- [end:vectors]

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        v = self.field_aware_vectors(batch).flatten(1, 2)  # (B, F (F-1), D)
        left, right = v[:, self.pair_slots].chunk(2, dim=1)  # Eq. (5): one gather, (B, Q, D) each
        logits = (left * right).sum(dim=(1, 2))  # Eq. (4): sum_{i<j} <v_{i,f_j}, v_{j,f_i}>, (B,)
        if self.linear is not None:
            logits = logits + self.linear(batch)  # Eq. (1): w0 + sum_i w_i x_i
        return logits  # (B,)

    # --8<-- [end:forward]


def tiny_ffm() -> tuple[FFM, dict[str, torch.Tensor]]:
    """A tiny FFM and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    return FFM(schema, FFMConfig(embed_dim=3, init_std=0.1)), batch


SPEC = register(
    ModelSpec(
        name="ffm",
        display_name="FFM",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Field-aware Factorization Machines for CTR Prediction",
            authors="Juan et al.",
            venue="RecSys",
            year=2016,
            url="https://doi.org/10.1145/2959100.2959134",
        ),
        cls=FFM,
        config_cls=FFMConfig,
        tiny=tiny_ffm,
        summary="One vector per id and per other field: each pair meets through its own two vectors.",
        status="implemented",
        note="ranking/ffm.md",
    )
)
