"""Every field's embedding table packed into one, addressed with per-field offsets.

``FeatureEmbedding`` keeps one ``nn.Embedding`` per table and looks the fields up one by one.
``PackedEmbedding`` stores the same tables one after the other in a single matrix, so that all
sparse fields of a batch are looked up by one indexing operation (and one gradient scatter) instead
of one per field. With tens of fields and small batches that is most of the embedding time, on a GPU
in particular. The numbers are the same: a field's id ``x`` reads row ``offset[field] + x``, and id
``0`` (padding or unknown) of every field reads row 0, which stays zero and gets no gradient.

Shape legend: ``B`` batch, ``S`` sparse fields, ``L`` sequence length, ``D`` embedding dim, ``F``
embedded fields (sparse plus sequence).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from recnotes.data.schema import Schema
from recnotes.layers.embedding import embedding_rows, masked_mean

__all__ = ["PackedEmbedding"]


class PackedEmbedding(nn.Module):
    """One table for all sparse and sequence features; ``forward`` gives ``(B, F, D)``.

    The fields come out sparse first, then sequences, each group in schema order (``fields``
    lists them). A sequence feature is mean-pooled over its non-padding ids. A feature that declares
    ``shared_with`` reads the rows of that feature (``history_ids`` shares ``item_ids``).

    Args:
        schema: the features.
        embed_dim: width ``D`` of every embedding.
        fields: which sparse/sequence features to embed (default: all of them).
        init_std: standard deviation of the normal initialisation.

    Shapes:
        ``forward(batch) -> (B, F, D)``; ``embed(name, ids)``: ``(B,) -> (B, D)`` or
        ``(B, L) -> (B, L, D)``.

    Example:
        >>> from recnotes.data import Feature, Schema
        >>> schema = Schema([Feature("user_ids", "sparse", vocab_size=5),
        ...                  Feature("item_ids", "sparse", vocab_size=7),
        ...                  Feature("history_ids", "sequence", vocab_size=7, max_len=3,
        ...                          shared_with="item_ids")])
        >>> emb = PackedEmbedding(schema, embed_dim=4)
        >>> batch = {"user_ids": torch.tensor([1, 2]), "item_ids": torch.tensor([3, 0]),
        ...          "history_ids": torch.tensor([[1, 2, 0], [0, 0, 0]])}
        >>> emb(batch).shape, emb.weight.shape  # rows: padding + 4 users + 6 items
        (torch.Size([2, 3, 4]), torch.Size([11, 4]))
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
        for name in names:
            if schema[name].kind not in ("sparse", "sequence"):
                raise ValueError(
                    f"feature '{name}' is {schema[name].kind}; only sparse and sequence "
                    "features are embedded"
                )
        chosen = set(names)
        self.sparse = [f.name for f in schema if f.name in chosen and f.kind == "sparse"]
        self.sequences = [f.name for f in schema if f.name in chosen and f.kind == "sequence"]
        self.fields = self.sparse + self.sequences
        self.embed_dim = embed_dim
        # Row 0 is the padding row of every field; table t's ids 1..V_t-1 follow in one block.
        start: dict[str, int] = {}
        rows = 1
        for name in self.fields:
            feature = schema[name]
            owner = feature.shared_with if feature.shared_with in schema else name
            if owner != name and schema[owner].vocab_size != feature.vocab_size:
                raise ValueError(
                    f"feature '{name}' shares '{owner}' but their vocab sizes differ "
                    f"({feature.vocab_size} vs {schema[owner].vocab_size})"
                )
            if owner not in start:
                start[owner] = rows - 1  # id x >= 1 of this table is row start + x
                rows += schema[owner].vocab_size - 1
            start[name] = start[owner]
        self.offset_of = {name: start[name] for name in self.fields}
        self.register_buffer(
            "sparse_offsets",
            torch.tensor([start[n] for n in self.sparse], dtype=torch.long),
            persistent=False,
        )
        self.table = nn.Embedding(rows, embed_dim, padding_idx=0)
        nn.init.normal_(self.table.weight, std=init_std)
        with torch.no_grad():
            self.table.weight[0].zero_()

    @property
    def weight(self) -> torch.Tensor:
        """The packed table ``(1 + sum_t (V_t - 1), D)``; row 0 is padding."""
        return self.table.weight

    def rows(self, name: str, ids: torch.Tensor) -> torch.Tensor:
        """The packed-table rows of one feature's ids; id 0 maps to row 0."""
        return torch.where(ids > 0, ids + self.offset_of[name], 0)

    def embed(self, name: str, ids: torch.Tensor) -> torch.Tensor:
        """The raw embeddings of one feature: ``(B,) -> (B, D)`` or ``(B, L) -> (B, L, D)``."""
        return embedding_rows(self.table, self.rows(name, ids))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        blocks = []
        if self.sparse:
            ids = torch.stack([batch[n] for n in self.sparse], dim=1)  # (B, S)
            packed = torch.where(ids > 0, ids + self.sparse_offsets, 0)  # one look-up for all
            blocks.append(embedding_rows(self.table, packed))  # (B, S, D)
        for name in self.sequences:
            ids = batch[name]
            pooled = masked_mean(self.embed(name, ids), ids != 0)  # (B, L, D) -> (B, D)
            blocks.append(pooled.unsqueeze(1))
        return blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1)  # (B, F, D)
