"""Turn a schema's features into vectors: one embedding table per sparse field, masked pooling for
sequences, dense features passed through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from recnotes.data.schema import Schema

__all__ = ["FeatureEmbedding", "masked_mean"]


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
        return self.tables[self.table_of[name]](ids)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        vectors = []
        for name in self.fields:
            ids = batch[name]
            e = self.embed(name, ids)
            if self.kinds[name] == "sequence":
                e = masked_mean(e, ids != 0)  # (B, L, D) -> (B, D)
            vectors.append(e)
        return torch.stack(vectors, dim=1)  # (B, F, D)
