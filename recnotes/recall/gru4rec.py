"""GRU4Rec: session-based recommendation with a recurrent network over the item sequence.

Paper: Balázs Hidasi, Alexandros Karatzoglou, Linas Baltrunas and Domonkos Tikk, "Session-based
Recommendations with Recurrent Neural Networks", ICLR 2016. https://arxiv.org/abs/1511.06939

Stage: recall (family ``sequential``). The user vector is read from the ordered history alone.

A gated recurrent unit reads the items of a session one at a time; its hidden state after item
``t`` summarises the session so far and scores every item as the next one. It was the first deep
model for session-based recommendation, where there is no user profile, only the clicks of the
current session. Training predicts the next item at every position at once. The paper scores the
next item against the other sessions' next items in the mini-batch with a ranking loss (BPR or
TOP1); later work (and the common re-implementations) train the same network with a full softmax
cross-entropy, which is the default here.

Shape legend: ``B`` batch, ``L`` history length, ``D`` item embedding width, ``H`` hidden width,
``N`` catalogue rows (item ids + padding), ``M`` positions with a target in a batch.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/gru4rec.md``.

Differences from the paper:

- Training rows are the users' last ``L`` training items (``RetrievalData.sequences``), not
  session-parallel mini-batches that carry the hidden state across batches.
- ``loss="bpr"`` scores each position's target against the other positions' targets in the
  batch (the paper's mini-batch negatives, Sec. 3.1.2, BPR of Sec. 3.1.3); ``loss="ce"`` (the
  default) is the full softmax cross-entropy the re-implementations use. Mini-batch negatives are
  drawn in proportion to popularity, so BPR learns to push popular items down: on full ranking
  over the catalogue it scores below a popularity baseline on the synthetic data (NDCG@10 about
  0.07 against 0.22 in a 15-epoch run), which is why CE is the default.
- The output layer is a linear map of the hidden state into the item-embedding space, and items
  are scored by the inner product with their (input) embeddings, so retrieval is an
  inner-product search; the paper's output layer is a separate weight per item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from recnotes.data import Schema
from recnotes.data.retrieval import history_ids_of, next_item_targets
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["GRU4RecConfig", "GRU4Rec"]

_LOSSES = ("ce", "bpr")


@dataclass(frozen=True)
class GRU4RecConfig:
    """GRU4Rec's size and objective.

    Example:
        >>> GRU4RecConfig(hidden_dim=100).num_layers
        1
    """

    embed_dim: int = 64  # item embedding width (the paper feeds one-hot items; 64 as RecBole)
    hidden_dim: int = 128  # paper, Sec. 4: 100 units; 128 as the re-implementations
    num_layers: int = 1  # paper, Sec. 4: a single GRU layer was best
    dropout: float = 0.3  # paper, Table 2: dropout 0.2-0.5 on the hidden layer
    loss: str = "ce"  # "ce": softmax cross-entropy; "bpr": the paper's mini-batch BPR
    init_std: float = 0.02
    check_inputs: bool = True

    def __post_init__(self) -> None:
        for name in ("embed_dim", "hidden_dim", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std!r}")


class GRU4Rec(nn.Module):
    """GRU4Rec (Hidasi et al., ICLR 2016): a GRU over the item history.

    Args:
        schema: must declare ``history_ids`` (a sequence sharing the ``item_ids`` vocabulary) and
            ``item_ids``; other features are ignored.
        config: a :class:`GRU4RecConfig`.

    Shapes:
        ``sequence_output(history (B, L)) -> (B, L, D)``; ``user_embedding(batch) -> (B, D)``;
        ``item_embedding(batch) -> (N, D)``; ``loss(batch) -> ()`` on ``RetrievalData.sequences``
        rows (``target_ids``) or ``RetrievalData.train`` rows (``item_ids``).

    Example:
        >>> from recnotes.data.retrieval import retrieval_synthetic
        >>> data = retrieval_synthetic(num_users=40, num_items=30, max_len=8)
        >>> model = GRU4Rec(data.schema, GRU4RecConfig(embed_dim=16, hidden_dim=24))
        >>> model.user_embedding(data.test.users).shape
        torch.Size([40, 16])
    """

    train_view = "sequences"  # recall_benchmark trains on one row per user, every position

    def __init__(self, schema: Schema, config: GRU4RecConfig = GRU4RecConfig()) -> None:
        super().__init__()
        for name in ("history_ids", "item_ids"):
            if name not in schema:
                raise ValueError(f"GRU4Rec needs the feature '{name}' in the schema")
        if schema["history_ids"].vocab_size != schema["item_ids"].vocab_size:
            raise ValueError("history_ids and item_ids must share one vocabulary")
        self.schema = schema
        self.config = config
        self.num_items = schema["item_ids"].vocab_size
        self._history_schema = schema.select(["history_ids"])
        self.item = nn.Embedding(self.num_items, config.embed_dim, padding_idx=0)
        nn.init.normal_(self.item.weight, std=config.init_std)
        with torch.no_grad():
            self.item.weight[0].zero_()
        self.gru = nn.GRU(config.embed_dim, config.hidden_dim, config.num_layers, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_dim, config.embed_dim)  # h_t -> item space

    # --8<-- [start:forward]
    def sequence_output(self, history: torch.Tensor) -> torch.Tensor:
        """The hidden state after every position mapped to item space, ``(B, L) -> (B, L, D)``.

        Padding never enters the recurrence: each row's items are moved to the front, the GRU runs
        on the packed rows from a zero state, and the outputs go back to their (left-padded)
        positions; padding positions are zero.
        """
        lengths = (history > 0).sum(1)  # (B,)
        b, length = history.shape
        # move each row's items to the front (left-aligned), run the GRU on the packed rows
        order = torch.argsort((history == 0).int(), dim=1, stable=True)  # real items first
        front = history.gather(1, order)
        x = self.dropout(self.item(front))  # (B, L, D)
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.gru(packed)  # Eq. (1)-(4): the GRU recurrence
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=length)
        out = self.output(self.dropout(out))  # Eq. (5), (B, L, D)
        # put the outputs back at their (left-padded) positions; padding positions are zero
        back = torch.zeros_like(out).scatter(1, order.unsqueeze(-1).expand_as(out), out)
        return back * (history > 0).unsqueeze(-1)

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The output after the most recent item (the last column), ``(B, D)``."""
        return self.sequence_output(self._history(batch))[:, -1]

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The item embeddings ``E[item_ids]``, ``(N, D)``."""
        if self.config.check_inputs:
            self.schema.select(["item_ids"]).validate({"item_ids": batch.get("item_ids")})
        return self.item(batch["item_ids"])

    # --8<-- [end:forward]

    # --8<-- [start:loss]
    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Softmax cross-entropy over all items, or BPR against the batch's other targets."""
        history = self._history(batch)
        targets = next_item_targets(batch, history, self.num_items)
        hidden = self.sequence_output(history)
        mask = targets > 0
        h, pos = hidden[mask], targets[mask]  # (M, D), (M,)
        if self.config.loss == "ce":
            return F.cross_entropy(h @ self.item.weight[1:].T, pos - 1)  # Eq. (7)
        scores = h @ self.item(pos).T  # (M, M): the other positions' targets are negatives
        other = pos[None, :] != pos[:, None]  # a negative equal to the target is not one
        margin = scores.diagonal()[:, None] - scores  # Eq. (6): BPR on score differences
        return -F.logsigmoid(margin[other]).mean()

    # --8<-- [end:loss]

    def _history(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return history_ids_of(batch, self._history_schema if self.config.check_inputs else None)


PAPER = Paper(
    title="Session-based Recommendations with Recurrent Neural Networks",
    authors="Balázs Hidasi, Alexandros Karatzoglou, Linas Baltrunas, Domonkos Tikk",
    venue="ICLR",
    year=2016,
    url="https://arxiv.org/abs/1511.06939",
)


@lru_cache(maxsize=1)
def _tiny_data():
    from recnotes.data.retrieval import retrieval_synthetic

    return retrieval_synthetic(num_users=40, num_items=30, max_len=6, seed=0)


def _tiny() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    data = _tiny_data()
    model = GRU4Rec(data.schema, GRU4RecConfig(embed_dim=8, hidden_dim=12, dropout=0.1))
    return model, {k: v.clone() for k, v in data.train[:12].items()}


SPEC = register(
    ModelSpec(
        name="gru4rec",
        display_name="GRU4Rec",
        stage="recall",
        family="sequential",
        paper=PAPER,
        cls=GRU4Rec,
        config_cls=GRU4RecConfig,
        tiny=_tiny,
        summary="A GRU reads the item history in order and scores every item as the next one.",
        status="implemented",
        note="recall/gru4rec.md",
    )
)
