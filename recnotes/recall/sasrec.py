"""SASRec: self-attentive sequential recommendation, next-item prediction with a causal Transformer.

Paper: Wang-Cheng Kang and Julian McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018.
https://arxiv.org/abs/1808.09781

Stage: recall (family ``sequential``). The user vector is read from the ordered history alone.

A user's recent items, each embedded and given a learned position embedding, pass through a stack
of causal self-attention blocks: position ``t`` attends only to positions ``<= t``, so its output
summarises the sequence up to ``t`` and is trained to score the item that comes next, at every
position at once. The score of an item is the inner product of that output with the item's own
input embedding (one shared table), so serving is a nearest-neighbour search with the output at
the last position as the user vector. Two training objectives are offered: the paper's binary
cross-entropy with one sampled negative per position, and a full softmax cross-entropy over all
items, which later work found much stronger on the same model.

Shape legend: ``B`` batch, ``L`` history length, ``D`` embedding width, ``N`` catalogue rows
(item ids + padding), ``M`` positions with a target in a batch.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/sasrec.md``.

Ids: ``history_ids`` is left-padded with 0, so the most recent item is in the last column and the
position embedding counts from the end of the window. Padding positions are kept at zero after
every block and are never attended to.

Differences from the paper:

- Negatives of the BCE loss are drawn uniformly from all items other than the position's target;
  the paper draws items outside the user's whole sequence. With 12,101 items the two rarely differ.
- ``loss="ce"`` (full softmax cross-entropy) is not in the paper; it is selectable and documented.
- Each block is the paper's pre-norm form ``x + Dropout(f(LayerNorm(x)))`` (Sec. III-C) for both
  sub-layers; the authors' code normalises only the attention query. A last LayerNorm follows the
  stack, as in the authors' code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from recnotes.data import BatchError, Schema
from recnotes.data.retrieval import history_ids_of, next_item_targets
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["SASRecConfig", "SASRec", "SASRecBlock"]

_LOSSES = ("bce", "ce")


@dataclass(frozen=True)
class SASRecConfig:
    """SASRec's size and objective.

    Example:
        >>> SASRecConfig(embed_dim=64, num_heads=2).head_dim
        32
        >>> SASRecConfig(loss="mse")
        Traceback (most recent call last):
        ...
        ValueError: loss must be one of ('bce', 'ce'), got 'mse'
    """

    embed_dim: int = 50  # paper, Sec. IV-C: d = 50
    num_blocks: int = 2  # paper, Sec. IV-C: two self-attention blocks
    num_heads: int = 1  # paper: a single head (multi-head did not help, Sec. IV-F)
    dropout: float = 0.5  # paper, Sec. IV-C: 0.5 on the sparse Amazon data, 0.2 on ML-1M
    loss: str = "bce"  # "bce": the paper's, Eq. (7); "ce": softmax cross-entropy, Eq. (8)
    num_negatives: int = 1  # BCE negatives per position (paper: one)
    init_std: float = 0.02  # normal init of the embeddings
    check_inputs: bool = True  # validate batches against the schema

    def __post_init__(self) -> None:
        for name in ("embed_dim", "num_blocks", "num_heads", "num_negatives"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        if not (self.init_std > 0 and math.isfinite(self.init_std)):
            raise ValueError(f"init_std must be a positive number, got {self.init_std!r}")

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.embed_dim // self.num_heads


# --8<-- [start:block]
class SASRecBlock(nn.Module):
    """One self-attention block: causal multi-head attention, then a point-wise feed-forward
    network, each as ``x + Dropout(f(LayerNorm(x)))``, Eqs. (2)-(4)."""

    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        d = config.embed_dim
        self.heads = config.num_heads
        self.attn_norm = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)  # W^Q, W^K, W^V of Eq. (2), one matrix
        self.out = nn.Linear(d, d)
        self.ffn_norm = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Dropout(config.dropout),
                                 nn.Linear(d, d))  # fmt: skip
        self.dropout = nn.Dropout(config.dropout)
        self.p = config.dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).chunk(3, dim=-1)  # (B, L, D) each
        split = lambda t: t.view(b, length, self.heads, -1).transpose(1, 2)  # noqa: E731
        attended = F.scaled_dot_product_attention(  # Eq. (2): softmax(Q K^T / sqrt(d) + A) V
            split(q),
            split(k),
            split(v),
            attn_mask=allowed,
            dropout_p=self.p if self.training else 0.0,
        )  # (B, H, L, D / H)
        x = x + self.dropout(self.out(attended.transpose(1, 2).reshape(b, length, d)))  # Eq. (3)
        x = x + self.dropout(self.ffn(self.ffn_norm(x)))  # Eqs. (3)-(4)
        return x * keep  # padding positions stay zero


# --8<-- [end:block]


class SASRec(nn.Module):
    """SASRec (Kang & McAuley, ICDM 2018): a causal Transformer over the item history.

    Args:
        schema: must declare ``history_ids`` (a sequence sharing the ``item_ids`` vocabulary) and
            ``item_ids``; other features are ignored (the model reads the history alone).
        config: a :class:`SASRecConfig`.

    Shapes:
        ``sequence_output(history (B, L)) -> (B, L, D)``; ``user_embedding(batch) -> (B, D)`` (the
        output at the last position); ``item_embedding(batch) -> (N, D)``;
        ``loss(batch) -> ()``. Training batches come either from ``RetrievalData.sequences``
        (``target_ids (B, L)``: the next item at every position; ``train_view = "sequences"``) or
        from ``RetrievalData.train`` (one target ``item_ids (B,)`` after the history).

    Example:
        >>> from recnotes.data.retrieval import retrieval_synthetic
        >>> data = retrieval_synthetic(num_users=40, num_items=30, max_len=8)
        >>> model = SASRec(data.schema, SASRecConfig(embed_dim=16))
        >>> model.user_embedding(data.test.users).shape, model.item_embedding(data.items).shape
        (torch.Size([40, 16]), torch.Size([31, 16]))
        >>> bool(model.loss(data.sequences[:8]) > 0)
        True
    """

    train_view = "sequences"  # recall_benchmark trains on one row per user, every position

    def __init__(self, schema: Schema, config: SASRecConfig = SASRecConfig()) -> None:
        super().__init__()
        for name in ("history_ids", "item_ids"):
            if name not in schema:
                raise ValueError(f"SASRec needs the feature '{name}' in the schema")
        history = schema["history_ids"]
        if history.vocab_size != schema["item_ids"].vocab_size:
            raise ValueError("history_ids and item_ids must share one vocabulary")
        self.schema = schema
        self.config = config
        self.max_len = history.max_len
        self.num_items = history.vocab_size
        self._history_schema = schema.select(["history_ids"])
        d = config.embed_dim
        self.item = nn.Embedding(self.num_items, d, padding_idx=0)  # E, input and output
        self.position = nn.Embedding(self.max_len, d)  # P, learned, Eq. (1)
        nn.init.normal_(self.item.weight, std=config.init_std)
        nn.init.normal_(self.position.weight, std=config.init_std)
        with torch.no_grad():
            self.item.weight[0].zero_()
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(SASRecBlock(config) for _ in range(config.num_blocks))
        self.final_norm = nn.LayerNorm(d)

    # --8<-- [start:forward]
    def sequence_output(self, history: torch.Tensor) -> torch.Tensor:
        """The output at every position, ``(B, L) -> (B, L, D)``; position ``t`` sees ``<= t``."""
        b, length = history.shape
        if length > self.max_len:
            raise BatchError("history_ids", f"length {length} exceeds max_len {self.max_len}")
        keep = (history > 0).unsqueeze(-1).float()  # (B, L, 1)
        positions = torch.arange(self.max_len - length, self.max_len, device=history.device)
        x = self.item(history) * math.sqrt(self.config.embed_dim)  # as the authors' code
        x = self.dropout(x + self.position(positions)) * keep  # Eq. (1)
        causal = torch.ones(length, length, dtype=torch.bool, device=history.device).tril()
        allowed = causal & (history > 0)[:, None, :]  # (B, L, L): earlier, non-padding keys
        allowed = allowed | torch.eye(
            length, dtype=torch.bool, device=history.device
        )  # no empty row
        allowed = allowed.unsqueeze(1)  # (B, 1, L, L), broadcast over heads
        for block in self.blocks:
            x = block(x, allowed, keep)  # Eqs. (2)-(4), stacked
        return self.final_norm(x) * keep  # Eq. (5)

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The output at the last position (the most recent item), ``(B, D)``."""
        history = self._history(batch)
        return self.sequence_output(history)[:, -1]

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The shared item embeddings ``E[item_ids]``, ``(N, D)``."""
        if self.config.check_inputs:
            self.schema.select(["item_ids"]).validate({"item_ids": batch.get("item_ids")})
        return self.item(batch["item_ids"])

    # --8<-- [end:forward]

    # --8<-- [start:loss]
    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """BCE with sampled negatives (Eq. 7) or full softmax cross-entropy (Eq. 8), per target."""
        history = self._history(batch)
        targets = next_item_targets(batch, history, self.num_items)  # (B, L), 0 = none
        hidden = self.sequence_output(history)
        mask = targets > 0
        h, pos = hidden[mask], targets[mask]  # (M, D), (M,)
        if self.config.loss == "ce":
            logits = h @ self.item.weight[1:].T  # Eq. (6), (M, N - 1): every item but padding id 0
            return F.cross_entropy(logits, pos - 1)  # Eq. (8)
        neg = torch.randint(1, self.num_items - 1, (pos.shape[0], self.config.num_negatives),
                            device=pos.device)  # fmt: skip
        neg = neg + (neg >= pos[:, None]).long()  # uniform over the items other than the target
        pos_logit = (h * self.item(pos)).sum(-1)  # Eq. (6), (M,)
        neg_logit = torch.einsum("md,mnd->mn", h, self.item(neg))  # (M, n)
        return F.binary_cross_entropy_with_logits(  # Eq. (7), averaged over M positions
            torch.cat([pos_logit[:, None], neg_logit], 1),
            torch.cat([torch.ones_like(pos_logit[:, None]), torch.zeros_like(neg_logit)], 1),
            reduction="sum",
        ) / (pos.shape[0] * (1 + self.config.num_negatives))

    # --8<-- [end:loss]

    def _history(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return history_ids_of(batch, self._history_schema if self.config.check_inputs else None)


PAPER = Paper(
    title="Self-Attentive Sequential Recommendation",
    authors="Wang-Cheng Kang, Julian McAuley",
    venue="ICDM",
    year=2018,
    url="https://arxiv.org/abs/1808.09781",
)


@lru_cache(maxsize=1)
def _tiny_data():
    from recnotes.data.retrieval import retrieval_synthetic

    return retrieval_synthetic(num_users=40, num_items=30, max_len=6, seed=0)


def _tiny() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    data = _tiny_data()
    model = SASRec(data.schema, SASRecConfig(embed_dim=8, num_heads=2, dropout=0.1))
    batch = {k: v.clone() for k, v in data.train[:12].items()}
    return model, batch


SPEC = register(
    ModelSpec(
        name="sasrec",
        display_name="SASRec",
        stage="recall",
        family="sequential",
        paper=PAPER,
        cls=SASRec,
        config_cls=SASRecConfig,
        tiny=_tiny,
        summary="A causal Transformer over the item history predicts the next item at every position.",
        status="implemented",
        note="recall/sasrec.md",
    )
)
