"""Feature-interaction blocks shared by the CTR family: the first-order (linear) term, field pairs,
and the factorization-machine second-order term in its O(F D) form.

Shape legend: ``B`` batch, ``F`` embedded fields, ``D`` embedding dim, ``P = F (F - 1) / 2`` pairs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from recnotes.data.schema import Schema
from recnotes.layers.embedding import FeatureEmbedding, embedding_rows

__all__ = [
    "FeaturesLinear",
    "FieldVectors",
    "pair_indices",
    "pair_products",
    "bi_interaction",
    "fm_interaction",
]


@functools.lru_cache(maxsize=64)
def _pairs(num_fields: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    rows, cols = torch.triu_indices(num_fields, num_fields, offset=1).tolist()
    return tuple(rows), tuple(cols)


def pair_indices(num_fields: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(i, j)`` of every field pair with ``i < j``, row-major: ``(0,1), (0,2), ... (F-2,F-1)``.

    Example:
        >>> i, j = pair_indices(3)
        >>> i.tolist(), j.tolist()
        ([0, 0, 1], [1, 2, 2])
    """
    if num_fields < 2:
        raise ValueError(f"field pairs need at least 2 fields, got {num_fields}")
    rows, cols = _pairs(num_fields)
    return torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)


class _PairProducts(torch.autograd.Function):
    """``v[:, i] * v[:, j]`` for every pair ``i < j``, one block of pairs per first field ``i``.

    The pairs of field ``i`` are ``v[:, i:i+1] * v[:, i+1:]``: a broadcast product of two slices,
    written straight into its block of the output. The backward works block by block too. Indexing
    (``v[:, rows] * v[:, cols]``) gives the same numbers, but gathers two ``(B, P, D)`` copies first
    and its backward is an accumulating ``index_put_``, slow on CPU for AFM's Frappe batch
    ``(4096, 10, 256)``. ``benchmarks/bench_pairs.py`` times both ways
    (``results/benchmarks/pairs.json``).
    """

    @staticmethod
    def forward(ctx, v):  # noqa: D102 (see the class)
        ctx.save_for_backward(v)
        B, F, D = v.shape
        out = v.new_empty(B, F * (F - 1) // 2, D)
        start = 0
        for i in range(F - 1):
            n = F - 1 - i  # the pairs (i, i+1) ... (i, F-1)
            torch.mul(v[:, i : i + 1], v[:, i + 1 :], out=out[:, start : start + n])
            start += n
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # noqa: D102
        (v,) = ctx.saved_tensors
        F = v.shape[1]
        grad_v = torch.zeros_like(v)
        start = 0
        for i in range(F - 1):
            n = F - 1 - i
            block = grad[:, start : start + n]  # (B, n, D): d loss / d(v_i * v_j), j > i
            grad_v[:, i] += (block * v[:, i + 1 :]).sum(dim=1)  # d(v_i * v_j) / dv_i = v_j
            grad_v[:, i + 1 :].addcmul_(block, v[:, i : i + 1])  # d(v_i * v_j) / dv_j = v_i
            start += n
        return grad_v


def pair_products(v: torch.Tensor) -> torch.Tensor:
    """The element-wise product of every field pair: ``(B, F, D) -> (B, P, D)``.

    Pairs come in :func:`pair_indices` order, so the result equals ``v[:, i] * v[:, j]`` with
    ``i, j = pair_indices(F)``, gradients included, but costs a fraction of that on CPU (see
    ``_PairProducts``). It cannot be differentiated twice.

    Example:
        >>> v = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
        >>> pair_products(v).tolist()  # v1*v2, v1*v3, v2*v3
        [[[3.0, 8.0], [5.0, 12.0], [15.0, 24.0]]]
    """
    if v.dim() != 3 or v.shape[1] < 2:
        raise ValueError(
            f"pair_products expects (B, F, D) field vectors with F >= 2, got shape {tuple(v.shape)}"
        )
    return _PairProducts.apply(v)


def bi_interaction(v: torch.Tensor) -> torch.Tensor:
    """``sum_{i<j} v_i * v_j`` (element-wise) as ``0.5 * ((sum_i v_i)^2 - sum_i v_i^2)``: ``(B, F, D) -> (B, D)``.

    The identity turns a sum over ``P`` pairs into two sums over ``F`` fields (Rendle 2010, Lemma 3.1;
    NFM calls the vector the Bi-Interaction pooling).

    Example:
        >>> v = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
        >>> bi_interaction(v).tolist()  # 1*3 + 1*5 + 3*5, 2*4 + 2*6 + 4*6
        [[23.0, 44.0]]
    """
    if v.dim() != 3:
        raise ValueError(f"expected field embeddings of shape (B, F, D), got {tuple(v.shape)}")
    square_of_sum = v.sum(dim=1).pow(2)  # (B, D)
    sum_of_squares = v.pow(2).sum(dim=1)  # (B, D)
    return 0.5 * (square_of_sum - sum_of_squares)


def fm_interaction(v: torch.Tensor) -> torch.Tensor:
    """The FM second-order term ``sum_{i<j} <v_i, v_j>``: ``(B, F, D) -> (B,)``.

    Example:
        >>> v = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
        >>> fm_interaction(v).tolist()  # <v1,v2> + <v1,v3> + <v2,v3> = 11 + 17 + 39
        [67.0]
    """
    return bi_interaction(v).sum(dim=-1)


class FeaturesLinear(nn.Module):
    """The first-order term ``w_0 + sum_f w_f[x_f] + <w_dense, x_dense>``: one scalar weight per id.

    A sparse feature adds the weight of its id; a sequence feature adds the weights of its
    non-padding ids (a bag of ids, as in logistic regression over one-hot/multi-hot inputs); a
    dense feature adds ``w . x``. Id 0 is padding: its weight is zero and gets no gradient.
    Sequence features that declare ``shared_with`` share that feature's weight table.

    Args:
        schema: the features.
        fields: the sparse/sequence features to include (default: all, schema order).
        dense: the dense features to include (default: all).

    Shapes:
        ``forward(batch) -> (B,)``

    Example:
        >>> from recnotes.data import Feature, Schema
        >>> schema = Schema([Feature("user_ids", "sparse", vocab_size=4),
        ...                  Feature("item_ids", "sparse", vocab_size=5),
        ...                  Feature("price", "dense")])
        >>> lin = FeaturesLinear(schema)
        >>> batch = {"user_ids": torch.tensor([1, 3]), "item_ids": torch.tensor([2, 0]),
        ...          "price": torch.tensor([0.5, -1.0])}
        >>> lin(batch).shape
        torch.Size([2])
    """

    def __init__(
        self,
        schema: Schema,
        fields: Sequence[str] | None = None,
        dense: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.fields = (
            list(fields)
            if fields is not None
            else schema.names("sparse") + schema.names("sequence")
        )
        self.fields = [n for n in schema.names() if n in set(self.fields)]  # schema order
        self.dense = list(dense) if dense is not None else schema.names("dense")
        self.table_of: dict[str, str] = {}
        weights: dict[str, nn.Embedding] = {}
        for name in self.fields:
            feature = schema[name]
            if feature.kind not in ("sparse", "sequence"):
                raise ValueError(
                    f"feature '{name}' is {feature.kind}; only sparse and sequence features have id weights"
                )
            owner = feature.shared_with if feature.shared_with in schema else name
            self.table_of[name] = owner
            if owner not in weights:
                table = nn.Embedding(schema[owner].vocab_size, 1, padding_idx=0)
                nn.init.zeros_(table.weight)  # a linear model may start at zero
                weights[owner] = table
        self.weights = nn.ModuleDict(weights)
        for name in self.dense:
            if schema[name].kind != "dense":
                raise ValueError(f"feature '{name}' is {schema[name].kind}, not dense")
        dense_width = sum(schema[n].dim for n in self.dense)
        self.dense_linear = nn.Linear(dense_width, 1, bias=False) if dense_width else None
        self.bias = nn.Parameter(torch.zeros(1))  # w_0

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        out = self.bias.expand(len(next(iter(batch.values()))))
        for name in self.fields:
            ids = batch[name]
            w = embedding_rows(self.weights[self.table_of[name]], ids).squeeze(-1)  # padding: 0
            out = out + (w.sum(dim=1) if w.dim() == 2 else w)
        if self.dense_linear is not None:
            x = [batch[n].to(out.dtype) for n in self.dense]
            x = torch.cat([t.unsqueeze(-1) if t.dim() == 1 else t for t in x], dim=-1)  # (B, P)
            out = out + self.dense_linear(x).squeeze(-1)
        return out


class FieldVectors(nn.Module):
    """The factorization-machine input: one vector ``x_i v_i`` per field, ``(B, F, D)``.

    A sparse field gives its id's vector; a sequence field (a multi-hot bag, ``x = 1`` per id) gives
    the sum of its ids' vectors, padding left out; every dense column ``c`` is a field of its own
    with a learned vector scaled by its value, ``x_c v_c`` (Rendle 2010, real-valued features).
    Fields come in schema order, then the dense columns. FM, NFM and AFM read their pairs from it.

    Args:
        schema: the features (a sequence that declares ``shared_with`` reads that table).
        embed_dim: width ``D`` of every vector.
        init_std: standard deviation of the normal initialisation.

    Shapes:
        ``forward(batch) -> (B, F, D)`` with ``F = num_fields`` (id fields + dense columns).

    Example:
        >>> from recnotes.data import tiny_ctr_batch
        >>> schema, batch = tiny_ctr_batch()
        >>> vectors = FieldVectors(schema, embed_dim=4)
        >>> vectors(batch).shape, vectors.num_fields  # 3 id fields + 2 dense columns
        (torch.Size([6, 5, 4]), 5)
    """

    def __init__(self, schema: Schema, embed_dim: int, *, init_std: float = 0.01) -> None:
        super().__init__()
        self.fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        dense_width = sum(schema[name].dim for name in self.dense)
        self.num_fields = len(self.fields) + dense_width
        self.embedding = FeatureEmbedding(schema, embed_dim, self.fields, init_std=init_std)
        self.dense_vectors = (
            nn.Parameter(torch.randn(dense_width, embed_dim) * init_std) if dense_width else None
        )  # v_c of every dense column

    # --8<-- [start:field_vectors]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        vectors = []
        for name in self.fields:
            ids = batch[name]
            v = self.embedding.embed(name, ids)  # (B, D), or (B, L, D) for a sequence
            if v.dim() == 3:
                v = (v * (ids != 0).unsqueeze(-1).to(v.dtype)).sum(dim=1)  # padding must not vote
            vectors.append(v.unsqueeze(1))  # (B, 1, D)
        if self.dense_vectors is not None:
            x = [batch[n].to(self.dense_vectors.dtype) for n in self.dense]
            x = torch.cat([t.unsqueeze(-1) if t.dim() == 1 else t for t in x], dim=-1)  # (B, P)
            vectors.append(x.unsqueeze(-1) * self.dense_vectors)  # (B, P, D): x_c v_c
        return torch.cat(vectors, dim=1)  # (B, F, D)

    # --8<-- [end:field_vectors]
