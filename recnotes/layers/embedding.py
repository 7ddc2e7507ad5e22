"""Turn a schema's features into vectors: one embedding table per sparse field, masked pooling for
sequences, dense features passed through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from recnotes.data.schema import Schema

__all__ = ["FeatureEmbedding", "embedding_rows", "masked_mean"]


class _PaddedRows(torch.autograd.Function):
    """Rows of a table, with the gradient scattered by ``index_add_`` and row 0 left without one.

    ``F.embedding(ids, weight, padding_idx=0)`` computes the same thing. On the CPU, though, its
    backward sorts the ids once a batch holds more than 3000 of them (a packed table of several
    fields, or one field at batch size 4096); a plain ``index_add_`` is faster: 1.3x for a packed
    width-16 table, 3x for a width-1 one (``benchmarks/bench_lookup.py``,
    ``results/benchmarks/lookup.json``; one CPU thread).
    """

    @staticmethod
    def forward(ctx, weight: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:  # noqa: D102
        flat = ids.reshape(-1)
        ctx.save_for_backward(flat)
        ctx.rows = weight.shape[0]
        return weight.index_select(0, flat).view(*ids.shape, weight.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        # differentiable ops only, so second-order gradients (MAML-style meta-learning) work
        (flat,) = ctx.saved_tensors
        width = grad.shape[-1]
        grad_weight = grad.new_zeros(ctx.rows, width)
        grad_weight.index_add_(0, flat, grad.reshape(-1, width))  # repeated ids add up
        grad_weight[0] = 0  # the padding row gets no gradient (padding_idx=0)
        return grad_weight, None


def embedding_rows(table: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
    """``table(ids)`` for a table whose ``padding_idx`` is 0: same values, same gradients.

    On the CPU the gradient is scattered with ``index_add_`` (see ``_PaddedRows``); elsewhere, or
    for a table without ``padding_idx=0``, this is ``table(ids)``.

    Shapes:
        ``ids`` of any shape ``S`` (int64) -> ``(*S, D)``.

    Example:
        >>> table = nn.Embedding(5, 3, padding_idx=0)
        >>> ids = torch.tensor([[1, 0], [1, 4]])
        >>> torch.equal(embedding_rows(table, ids), table(ids))
        True
    """
    weight = table.weight
    if weight.device.type != "cpu" or table.padding_idx != 0 or table.max_norm is not None:
        return table(ids)
    if table.scale_grad_by_freq or table.sparse:
        return table(ids)
    return _PaddedRows.apply(weight, ids)


def masked_mean(vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``vectors (B, L, D)`` over positions where ``mask (B, L)`` is true; zeros if none.

    Example:
        >>> v = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> masked_mean(v, torch.tensor([[True, True, False]])).tolist()
        [[2.0]]
    """
    weights = mask.unsqueeze(-1).to(vectors.dtype)  # padding must not vote
    total = (vectors * weights).sum(dim=1)
    count = weights.sum(dim=1).clamp_min(1.0)
    return total / count


class FeatureEmbedding(nn.Module):
    """Embed the sparse and sequence features of a schema, all with the same width.

    A sequence feature that declares ``shared_with`` another feature uses that feature's table
    (``history_ids`` shares ``item_ids``). Id 0 is padding: its row is zero and gets no gradient.

    Args:
        schema: the features.
        embed_dim: width ``D`` of every embedding.
        fields: which sparse/sequence features to embed (default: all of them, schema order).
        init_std: standard deviation of the normal initialisation.

    Shapes:
        ``forward(batch) -> (B, F, D)``, one vector per field; a sequence is mean-pooled over its
        non-padding positions.

    Example:
        >>> from recnotes.data import Feature, Schema
        >>> schema = Schema([Feature("user_ids", "sparse", vocab_size=5),
        ...                  Feature("item_ids", "sparse", vocab_size=7),
        ...                  Feature("history_ids", "sequence", vocab_size=7, max_len=3,
        ...                          shared_with="item_ids")])
        >>> emb = FeatureEmbedding(schema, embed_dim=4)
        >>> batch = {"user_ids": torch.tensor([1, 2]), "item_ids": torch.tensor([3, 4]),
        ...          "history_ids": torch.tensor([[1, 2, 0], [0, 0, 0]])}
        >>> emb(batch).shape, len(emb.tables)
        (torch.Size([2, 3, 4]), 2)
    """

    def __init__(
        self,
        schema: Schema,
        embed_dim: int,
        fields: Sequence[str] | None = None,
        *,
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        if embed_dim < 1:
            raise ValueError(f"embed_dim must be >= 1, got {embed_dim}")
        names = (
            list(fields)
            if fields is not None
            else [f.name for f in schema if f.kind in ("sparse", "sequence")]
        )
        self.fields = names
        self.embed_dim = embed_dim
        self.table_of: dict[str, str] = {}
        tables: dict[str, nn.Embedding] = {}
        for name in names:
            feature = schema[name]
            if feature.kind not in ("sparse", "sequence"):
                raise ValueError(
                    f"feature '{name}' is {feature.kind}; only sparse and sequence features are embedded"
                )
            owner = feature.shared_with if feature.shared_with in schema else name
            if owner != name and schema[owner].vocab_size != feature.vocab_size:
                raise ValueError(
                    f"feature '{name}' shares '{owner}' but their vocab sizes differ "
                    f"({feature.vocab_size} vs {schema[owner].vocab_size})"
                )
            self.table_of[name] = owner
            if owner not in tables:
                table = nn.Embedding(schema[owner].vocab_size, embed_dim, padding_idx=0)
                nn.init.normal_(table.weight, std=init_std)
                with torch.no_grad():
                    table.weight[0].zero_()
                tables[owner] = table
        self.tables = nn.ModuleDict(tables)
        self.kinds = {name: schema[name].kind for name in names}

    def embed(self, name: str, ids: torch.Tensor) -> torch.Tensor:
        """The raw embeddings of one feature: ``(B,) -> (B, D)`` or ``(B, L) -> (B, L, D)``."""
        return embedding_rows(self.tables[self.table_of[name]], ids)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        vectors = []
        for name in self.fields:
            ids = batch[name]
            e = self.embed(name, ids)
            if self.kinds[name] == "sequence":
                e = masked_mean(e, ids != 0)  # (B, L, D) -> (B, D)
            vectors.append(e)
        return torch.stack(vectors, dim=1)  # (B, F, D)
