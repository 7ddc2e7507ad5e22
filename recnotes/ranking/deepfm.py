"""DeepFM: an FM and an MLP side by side, reading the same embeddings, their logits added.

Paper: *DeepFM: A Factorization-Machine based Neural Network for CTR Prediction*, Huifeng Guo,
Ruiming Tang, Yunming Ye, Zhenguo Li and Xiuqiang He, IJCAI 2017, https://arxiv.org/abs/1703.04247.

Stage: ranking (CTR prediction).

The idea: Wide&Deep pairs an MLP with a linear model whose cross features are engineered by hand.
DeepFM replaces that wide part with a factorization machine, so the low-order interactions (every
pair of fields) are learned, not engineered, and lets the FM and the MLP share one embedding layer:
each field's vector is both FM's factor ``v_i`` and one block of the MLP's input. The two parts are
trained jointly on the same loss, their logits added; nothing is pre-trained.

Shape legend: ``B`` batch, ``L`` sequence length, ``F`` interacting fields (sparse + sequence
fields + dense columns), ``D`` embedding dim, ``P`` total width of the dense features, ``H`` a
hidden width, ``V`` total rows of the embedding table.

Differences from the paper:

* The inputs are fields, as in recnotes' FM: a sparse field is one-hot, a sequence field is the sum
  of its ids' vectors (pairs inside a sequence are left out; its first-order term sums its ids'
  weights), a dense column ``c`` enters as ``x_c v_c`` in both parts and as ``w_c x_c`` in the
  first-order term (the paper's continuous fields, Sec. 2.1).
* All fields live in one embedding table (and one table of first-order weights) with a row offset
  per field; it is the same model as one table per field and trains faster (fewer, larger look-ups).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Feature, Schema, tiny_ctr_batch
from recnotes.layers import MLP, embedding_rows, fm_interaction
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["DeepFMConfig", "DeepFM", "FieldTables"]

_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")


@dataclass(frozen=True)
class DeepFMConfig:
    """Hyper-parameters of :class:`DeepFM`.

    Example:
        >>> DeepFMConfig(hidden=(64, 32)).hidden
        (64, 32)
        >>> DeepFMConfig(dropout=1.0)
        Traceback (most recent call last):
        ...
        ValueError: dropout is a probability in [0, 1), got 1.0
    """

    embed_dim: int = 10  # paper, experiment setup (Criteo): embedding size 10
    hidden: tuple[int, ...] = (400, 400, 400)  # paper, experiment setup: "400-400-400"
    activation: str = "relu"  # paper, experiment setup: relu for every deep model but IPNN
    dropout: float = 0.5  # paper, experiment setup: dropout 0.5
    batch_norm: bool = False  # the paper uses none
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
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


# --8<-- [start:tables]
class FieldTables(nn.Module):
    """Eqs. (1)-(2): every field's vector ``x_i v_i`` and first-order weight, from one table each.

    Field ``f`` owns rows ``offset_f + 1 ... offset_f + V_f - 1`` of the tables; id 0 of every
    field maps to the shared row 0, which is zero and gets no gradient (padding and unknown ids).
    A sequence that declares ``shared_with`` reads its owner's rows.

    Shapes:
        ``forward(batch) -> (vectors (B, F, D), first_order (B,))``
    """

    def __init__(self, schema: Schema, embed_dim: int, init_std: float) -> None:
        super().__init__()
        self.sparse = schema.names("sparse")
        self.sequences = schema.names("sequence")
        self.dense = schema.names("dense")
        owners = [n for n in self.sparse + self.sequences if not _shares(schema, schema[n])]
        for f in schema:
            if _shares(schema, f) and schema[f.shared_with].vocab_size != f.vocab_size:
                raise ValueError(
                    f"feature '{f.name}' shares '{f.shared_with}' but their vocab sizes differ "
                    f"({f.vocab_size} vs {schema[f.shared_with].vocab_size})"
                )
        offsets, total = {}, 1  # row 0 is the shared padding row
        for name in owners:
            offsets[name] = total - 1  # id k of the field -> row offset + k
            total += schema[name].vocab_size - 1
        self.offset_of = {
            n: offsets[schema[n].shared_with if _shares(schema, schema[n]) else n]
            for n in self.sparse + self.sequences
        }
        self.register_buffer(
            "sparse_offsets",
            torch.tensor([self.offset_of[n] for n in self.sparse]),
            persistent=False,
        )
        self.vectors = nn.Embedding(total, embed_dim, padding_idx=0)  # v_i of every id: (V, D)
        nn.init.normal_(self.vectors.weight, std=init_std)
        self.weights = nn.Embedding(total, 1, padding_idx=0)  # w_i of every id: (V, 1)
        with torch.no_grad():
            self.vectors.weight[0].zero_()
            self.weights.weight.zero_()  # the first-order term may start at zero
        width = sum(schema[n].dim for n in self.dense)
        self.dense_vectors = (
            nn.Parameter(torch.randn(width, embed_dim) * init_std) if width else None
        )
        self.dense_weights = nn.Parameter(torch.zeros(width)) if width else None
        self.bias = nn.Parameter(torch.zeros(1))  # w0

    def rows(self, name: str, ids: torch.Tensor) -> torch.Tensor:
        """Table rows of one field's ids; id 0 (padding, unknown) -> row 0."""
        return torch.where(ids == 0, 0, ids + self.offset_of[name])

    def forward(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.stack([batch[n] for n in self.sparse], dim=1) if self.sparse else None
        vectors, first_order = [], self.bias
        if ids is not None:  # all sparse fields in one look-up per table
            rows = torch.where(ids == 0, 0, ids + self.sparse_offsets)  # (B, F_sparse)
            vectors.append(embedding_rows(self.vectors, rows))  # (B, F_sparse, D)
            first_order = first_order + embedding_rows(self.weights, rows).sum(dim=(1, 2))  # (B,)
        for name in self.sequences:
            rows = self.rows(name, batch[name])  # (B, L); row 0 is zero, so padding adds nothing
            bag = embedding_rows(self.vectors, rows).sum(dim=1, keepdim=True)  # (B, 1, D): bag of ids
            vectors.append(bag)
            first_order = first_order + embedding_rows(self.weights, rows).sum(dim=(1, 2))
        if self.dense_vectors is not None:
            x = [batch[n].to(self.dense_vectors.dtype) for n in self.dense]
            x = torch.cat([t.unsqueeze(-1) if t.dim() == 1 else t for t in x], dim=-1)  # (B, P)
            vectors.append(x.unsqueeze(-1) * self.dense_vectors)  # (B, P, D): x_c v_c
            first_order = first_order + x @ self.dense_weights  # (B,)
        return torch.cat(vectors, dim=1), first_order  # (B, F, D), (B,)


# --8<-- [end:tables]


def _shares(schema: Schema, feature: Feature) -> bool:
    return feature.kind == "sequence" and feature.shared_with in schema


class DeepFM(nn.Module):
    """DeepFM: the FM component and the deep component on one shared embedding layer.

    Every non-label feature of the schema is an input. Sparse and sequence fields are embedded (a
    sequence is the sum of its ids' vectors); each column of a dense feature gives its vector
    times its value. The FM component reads the vectors' pairwise dot products and the
    first-order weights; the deep component reads the same vectors, concatenated.

    Args:
        schema: the features; they must give at least two fields (sparse, sequence or dense
            columns) to form a pair.
        config: hyper-parameters (:class:`DeepFMConfig`).

    Shapes:
        * ``components(batch)``: ``(y_fm (B,), y_dnn (B,))``, the two logits of Eqs. (3)-(4).
        * ``forward(batch)``: ``(B,)``, their sum (Eq. 5).

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_deepfm()
        >>> model(batch).shape, model.num_fields == 3 + 2  # 3 id fields, 2 dense columns
        (torch.Size([6]), True)
    """

    def __init__(self, schema: Schema, config: DeepFMConfig = DeepFMConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        names = [f.name for f in schema if f.kind in ("sparse", "sequence", "dense")]
        self.num_fields = sum(schema[n].dim if schema[n].kind == "dense" else 1 for n in names)
        if self.num_fields < 2:
            raise ValueError(
                "DeepFM pairs fields and needs at least two (sparse, sequence or dense columns); "
                f"the schema gives {self.num_fields}"
            )
        self._inputs = schema.select(names)  # what check_inputs validates
        self.embedding = FieldTables(schema, config.embed_dim, config.init_std)  # shared by both
        self.deep = MLP(
            self.num_fields * config.embed_dim,
            config.hidden,
            out_dim=1,
            activation=config.activation,
            dropout=config.dropout,
            batch_norm=config.batch_norm,
        )

    # --8<-- [start:forward]
    def components(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Eqs. (3)-(4): the FM logit and the deep logit, both read from one embedding layer."""
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        v, first_order = self.embedding(batch)  # Eqs. (1)-(2): (B, F, D), (B,)
        y_fm = first_order + fm_interaction(v)  # Eq. (3): <w, x> + sum_{i<j} <v_i, v_j>, (B,)
        y_dnn = self.deep(v.flatten(1)).squeeze(-1)  # Eq. (4): a^0 = [e_1; ...; e_F], (B,)
        return y_fm, y_dnn

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        y_fm, y_dnn = self.components(batch)
        return y_fm + y_dnn  # Eq. (5): (B,) logits; sigmoid gives the CTR

    # --8<-- [end:forward]


def tiny_deepfm() -> tuple[DeepFM, dict[str, torch.Tensor]]:
    """A tiny DeepFM and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    config = DeepFMConfig(embed_dim=4, hidden=(8, 4), init_std=0.1)
    return DeepFM(schema, config), batch


SPEC = register(
    ModelSpec(
        name="deepfm",
        display_name="DeepFM",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="DeepFM: A Factorization-Machine based Neural Network for CTR Prediction",
            authors="Guo et al.",
            venue="IJCAI",
            year=2017,
            url="https://arxiv.org/abs/1703.04247",
        ),
        cls=DeepFM,
        config_cls=DeepFMConfig,
        tiny=tiny_deepfm,
        summary="An FM and an MLP on one shared embedding layer, trained jointly, logits added.",
        status="reproduced",  # results/frappe/deepfm.json: test AUC within 0.003 of BARS (3 seeds)
        note="ranking/deepfm.md",
    )
)
