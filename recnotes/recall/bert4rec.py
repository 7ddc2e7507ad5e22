"""BERT4Rec: a bidirectional Transformer trained by filling in masked items of the history.

Paper: Fei Sun, Jun Liu, Jian Wu, Changhua Pei, Xiao Lin, Wenwu Ou and Peng Jiang, "BERT4Rec:
Sequential Recommendation with Bidirectional Encoder Representations from Transformer", CIKM 2019.
https://arxiv.org/abs/1904.06690

Stage: recall (family ``sequential``). The user vector is read from the ordered history alone.

A left-to-right model (SASRec) lets each item see only the items before it. BERT4Rec lets every
position see the whole sequence, which a next-item objective cannot allow (the answer would be in
the input), so it trains as a cloze task instead: a random share ``rho`` of the items is replaced by
a ``[mask]`` token and the model predicts them from both sides. At serving time a ``[mask]`` is
appended after the history and the output at that position scores the next item.

Shape legend: ``B`` batch, ``L`` history length, ``D`` embedding width, ``N`` catalogue rows
(item ids + padding; the ``[mask]`` token is id ``N``), ``M`` masked positions in a batch.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/bert4rec.md``.

Differences from the paper:

- The output layer is the paper's projection (linear, GELU, LayerNorm) followed by the inner
  product with the shared item embeddings, without the paper's per-item output bias, so retrieval
  is an inner-product search.
- Training rows are the users' last ``L`` training items (``RetrievalData.sequences``); the paper
  also adds training samples that mask only the last item. A row with no masked position after
  sampling gets its last item masked, so every row trains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from recnotes.data import BatchError, Schema
from recnotes.data.retrieval import history_ids_of
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["BERT4RecConfig", "BERT4Rec"]


@dataclass(frozen=True)
class BERT4RecConfig:
    """BERT4Rec's size and masking.

    Example:
        >>> BERT4RecConfig(mask_prob=0.6).num_blocks
        2
    """

    embed_dim: int = 64  # paper, Sec. 4.3: hidden size 64
    num_blocks: int = 2  # paper, Sec. 4.3: two Transformer layers
    num_heads: int = 2  # paper, Sec. 4.3: two heads
    dropout: float = 0.1  # paper, Sec. 4.3
    mask_prob: float = 0.6  # paper, Table 4 / Sec. 4.6: rho = 0.6 on Beauty, 0.2 on ML-1M
    init_std: float = 0.02  # paper, Sec. 4.3: truncated normal in [-0.02, 0.02]
    check_inputs: bool = True

    def __post_init__(self) -> None:
        for name in ("embed_dim", "num_blocks", "num_heads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std!r}")


class BERT4Rec(nn.Module):
    """BERT4Rec (Sun et al., CIKM 2019): bidirectional self-attention, cloze training.

    Args:
        schema: must declare ``history_ids`` (sharing the ``item_ids`` vocabulary) and ``item_ids``.
        config: a :class:`BERT4RecConfig`.

    Shapes:
        ``encode(tokens (B, L)) -> (B, L, D)``; ``user_embedding(batch) -> (B, D)`` (the output at
        a ``[mask]`` appended after the last ``L - 1`` items); ``item_embedding(batch) -> (N, D)``;
        ``loss(batch) -> ()`` on ``RetrievalData.sequences`` rows (or ``RetrievalData.train``
        rows: history + next item).

    Example:
        >>> from recnotes.data.retrieval import retrieval_synthetic
        >>> data = retrieval_synthetic(num_users=40, num_items=30, max_len=8)
        >>> model = BERT4Rec(data.schema, BERT4RecConfig(embed_dim=16))
        >>> model.user_embedding(data.test.users).shape, model.mask_id
        (torch.Size([40, 16]), 31)
    """

    train_view = "sequences"

    def __init__(self, schema: Schema, config: BERT4RecConfig = BERT4RecConfig()) -> None:
        super().__init__()
        for name in ("history_ids", "item_ids"):
            if name not in schema:
                raise ValueError(f"BERT4Rec needs the feature '{name}' in the schema")
        if schema["history_ids"].vocab_size != schema["item_ids"].vocab_size:
            raise ValueError("history_ids and item_ids must share one vocabulary")
        self.schema = schema
        self.config = config
        self.num_items = schema["item_ids"].vocab_size
        self.mask_id = self.num_items  # one extra row in the token table
        self.max_len = schema["history_ids"].max_len
        self._history_schema = schema.select(["history_ids"])
        d = config.embed_dim
        self.token = nn.Embedding(self.num_items + 1, d, padding_idx=0)  # items + [mask]
        self.position = nn.Embedding(self.max_len, d)
        for table in (self.token, self.position):
            nn.init.trunc_normal_(table.weight, std=config.init_std, a=-2 * config.init_std,
                                  b=2 * config.init_std)  # fmt: skip
        with torch.no_grad():
            self.token.weight[0].zero_()
        self.input_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d, config.num_heads, 4 * d, config.dropout, activation="gelu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_blocks, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))  # Eq. (4)

    # --8<-- [start:forward]
    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Bidirectional encoding of item/``[mask]`` tokens, ``(B, L) -> (B, L, D)``, Eqs. (1)-(3)."""
        length = tokens.shape[1]
        positions = torch.arange(self.max_len - length, self.max_len, device=tokens.device)
        x = self.dropout(self.input_norm(self.token(tokens) + self.position(positions)))  # Eq. (1)
        padding = tokens == 0  # (B, L): keys never attended to
        h = self.encoder(x, src_key_padding_mask=padding)  # Eqs. (2)-(3), every direction
        return self.head(h)  # Eq. (4)

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The output at a ``[mask]`` appended after the last ``L - 1`` history items, ``(B, D)``."""
        history = self._history(batch)
        mask = torch.full_like(history[:, :1], self.mask_id)
        tokens = torch.cat([history[:, 1:], mask], dim=1)  # the next item is the masked one
        return self.encode(tokens)[:, -1]

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The shared item embeddings, ``(N, D)``."""
        if self.config.check_inputs:
            self.schema.select(["item_ids"]).validate({"item_ids": batch.get("item_ids")})
        return self.token(batch["item_ids"])

    # --8<-- [end:forward]

    # --8<-- [start:loss]
    def mask_items(
        self, sequence: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Replace a random share ``rho`` of the items by ``[mask]``; returns (tokens, masked)."""
        real = sequence > 0
        draw = torch.rand(sequence.shape, generator=generator, device=sequence.device)
        masked = real & (draw < self.config.mask_prob)
        none = ~masked.any(1)  # a row with nothing masked: mask its last item
        masked[none, -1] = real[none, -1]
        tokens = sequence.masked_fill(masked, self.mask_id)
        return tokens, masked

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of the masked items over all items (the cloze objective, Eq. 5)."""
        sequence = self._sequence(batch)  # (B, L): the last L training items
        tokens, masked = self.mask_items(sequence)
        hidden = self.encode(tokens)[masked]  # (M, D)
        logits = hidden @ self.token.weight[1 : self.num_items].T  # (M, N - 1), no pad / [mask]
        return F.cross_entropy(logits, sequence[masked] - 1)

    # --8<-- [end:loss]

    def _history(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return history_ids_of(batch, self._history_schema if self.config.check_inputs else None)

    def _sequence(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The items a training row holds, in order: the history and the item after it."""
        history = self._history(batch)
        if "target_ids" in batch:  # sequence view: the next item of every position
            last = batch["target_ids"][:, -1:]
        elif "item_ids" in batch:  # row view: one next item
            last = batch["item_ids"][:, None]
        else:
            raise BatchError("target_ids", "a training batch needs target_ids or item_ids")
        if last.dtype.is_floating_point or last.min() < 0 or last.max() >= self.num_items:
            raise BatchError("target_ids", f"ids must be integers in [0, {self.num_items})")
        sequence = torch.cat([history, last], dim=1)[:, 1:]  # the last L items
        if not (sequence > 0).any():
            raise BatchError("history_ids", "the batch holds no item (every position is padding)")
        return sequence


PAPER = Paper(
    title="BERT4Rec: Sequential Recommendation with Bidirectional Encoder Representations from "
    "Transformer",
    authors="Fei Sun, Jun Liu, Jian Wu, Changhua Pei, Xiao Lin, Wenwu Ou, Peng Jiang",
    venue="CIKM",
    year=2019,
    url="https://arxiv.org/abs/1904.06690",
)


@lru_cache(maxsize=1)
def _tiny_data():
    from recnotes.data.retrieval import retrieval_synthetic

    return retrieval_synthetic(num_users=40, num_items=30, max_len=6, seed=0)


def _tiny() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    data = _tiny_data()
    model = BERT4Rec(data.schema, BERT4RecConfig(embed_dim=8, num_heads=2, dropout=0.1))
    return model, {k: v.clone() for k, v in data.train[:12].items()}


SPEC = register(
    ModelSpec(
        name="bert4rec",
        display_name="BERT4Rec",
        stage="recall",
        family="sequential",
        paper=PAPER,
        cls=BERT4Rec,
        config_cls=BERT4RecConfig,
        tiny=_tiny,
        summary="A bidirectional Transformer trained to fill in masked items of the history.",
        status="implemented",
        note="recall/bert4rec.md",
    )
)
