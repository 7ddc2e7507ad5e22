"""STAMP: short-term attention/memory priority for session-based recommendation.

Paper: Qiao Liu, Yifu Zeng, Refuoe Mokhosi and Haibin Zhang, "STAMP: Short-Term Attention/Memory
Priority Model for Session-based Recommendation", KDD 2018. https://doi.org/10.1145/3219819.3219950

Stage: recall (family ``sequential``). The user vector is read from the ordered history alone.

A session says two things: what the user has been looking at overall (the general interest) and
what they clicked last (the current interest). STAMP keeps both. An attention over the session's
items, steered by the last click and the session's mean, builds the general-interest memory
``m_a``; the last click's embedding is the short-term memory ``m_t``. Two small MLPs turn them into
``h_s`` and ``h_t``, and an item is scored by the trilinear product ``<h_s, h_t, x_i>``, the inner
product of ``h_s * h_t`` with the item's embedding, so retrieval is an inner-product search with
``h_s * h_t`` as the user vector. Training is a softmax cross-entropy over all items.

Shape legend: ``B`` batch, ``L`` history length, ``D`` embedding width, ``N`` catalogue rows
(item ids + padding).

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/stamp.md``.

Differences from the paper:

- The attention runs over the history window (the last ``L`` items), not the whole session.
- Scores are the raw trilinear products, trained with a softmax cross-entropy over all items; the
  paper passes them through a sigmoid before the softmax.
- ``m_a`` is the attention-weighted sum of the history, as in the paper; some re-implementations
  add the session mean ``m_s`` to it.
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
from recnotes.layers import masked_mean
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["STAMPConfig", "STAMP"]


@dataclass(frozen=True)
class STAMPConfig:
    """STAMP's size.

    Example:
        >>> STAMPConfig(embed_dim=100).embed_dim
        100
    """

    embed_dim: int = 100  # paper, Sec. 4.3: item embeddings of dimension 100
    init_std: float = 0.002  # paper, Sec. 4.3: N(0, 0.002) for the embeddings
    check_inputs: bool = True

    def __post_init__(self) -> None:
        if (
            isinstance(self.embed_dim, bool)
            or not isinstance(self.embed_dim, int)
            or self.embed_dim < 1
        ):
            raise ValueError(f"embed_dim must be an integer >= 1, got {self.embed_dim!r}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std!r}")


class STAMP(nn.Module):
    """STAMP (Liu et al., KDD 2018): general interest by attention, current interest by the last click.

    Args:
        schema: must declare ``history_ids`` (sharing the ``item_ids`` vocabulary) and ``item_ids``.
        config: a :class:`STAMPConfig`.

    Shapes:
        ``user_embedding(batch) -> (B, D)`` (``h_s * h_t``); ``item_embedding(batch) -> (N, D)``;
        ``loss(batch) -> ()`` on ``RetrievalData.train`` rows (history, next ``item_ids``).

    Example:
        >>> from recnotes.data.retrieval import retrieval_synthetic
        >>> data = retrieval_synthetic(num_users=40, num_items=30, max_len=8)
        >>> model = STAMP(data.schema, STAMPConfig(embed_dim=16))
        >>> model.user_embedding(data.test.users).shape
        torch.Size([40, 16])
    """

    train_view = "rows"

    def __init__(self, schema: Schema, config: STAMPConfig = STAMPConfig()) -> None:
        super().__init__()
        for name in ("history_ids", "item_ids"):
            if name not in schema:
                raise ValueError(f"STAMP needs the feature '{name}' in the schema")
        if schema["history_ids"].vocab_size != schema["item_ids"].vocab_size:
            raise ValueError("history_ids and item_ids must share one vocabulary")
        self.schema = schema
        self.config = config
        self.num_items = schema["item_ids"].vocab_size
        self._history_schema = schema.select(["history_ids"])
        self._item_schema = schema.select(["item_ids"])
        d = config.embed_dim
        self.item = nn.Embedding(self.num_items, d, padding_idx=0)
        nn.init.normal_(self.item.weight, std=config.init_std)
        with torch.no_grad():
            self.item.weight[0].zero_()
        self.w1 = nn.Linear(d, d, bias=False)  # W_1 x_i
        self.w2 = nn.Linear(d, d, bias=False)  # W_2 x_t
        self.w3 = nn.Linear(d, d)  # W_3 m_s + b_a
        self.w0 = nn.Linear(d, 1, bias=False)  # w_0
        self.mlp_s = nn.Linear(d, d)  # MLP cell A
        self.mlp_t = nn.Linear(d, d)  # MLP cell B

    # --8<-- [start:forward]
    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``h_s * h_t`` from the history, ``(B, D)``: an item's score is its dot product with it."""
        history = self._history(batch)
        mask = history > 0  # (B, L)
        x = self.item(history)  # (B, L, D)
        x_t = x[:, -1]  # the last click (left padding: the last column), (B, D)
        m_s = masked_mean(x, mask)  # Eq. (1): the session's mean, (B, D)
        logits = self.w0(torch.sigmoid(self.w1(x) + self.w2(x_t)[:, None] + self.w3(m_s)[:, None]))
        alpha = logits.squeeze(-1).masked_fill(~mask, 0.0)  # Eq. (2); padding gets no weight
        m_a = (alpha.unsqueeze(-1) * x).sum(1)  # Eq. (3): the attention memory
        h_s = torch.tanh(self.mlp_s(m_a))  # Eq. (4), general interest
        h_t = torch.tanh(self.mlp_t(x_t))  # Eq. (4), current interest
        return h_s * h_t  # Eq. (5): <h_s, h_t, x_i> = (h_s * h_t) . x_i

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The item embeddings ``x_i``, ``(N, D)``."""
        if self.config.check_inputs:
            self._item_schema.validate({"item_ids": batch.get("item_ids")})
        return self.item(batch["item_ids"])

    # --8<-- [end:forward]

    # --8<-- [start:loss]
    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Softmax cross-entropy of the next item over all items, Eq. (6)."""
        user = self.user_embedding(batch)
        if "item_ids" not in batch:
            raise BatchError("item_ids", "a training batch needs the next item in item_ids")
        target = batch["item_ids"]
        if self.config.check_inputs:
            self._item_schema.validate({"item_ids": target})
        if (target == 0).any():
            raise BatchError("item_ids", "a training target is the padding id 0")
        return F.cross_entropy(user @ self.item.weight[1:].T, target - 1)

    # --8<-- [end:loss]

    def _history(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        history = history_ids_of(batch, self._history_schema if self.config.check_inputs else None)
        if self.config.check_inputs:
            if history.shape[0] and not (history[:, -1] > 0).all():
                raise BatchError("history_ids", "the last column is padding: a history must be "
                                 "left-padded and not empty")  # fmt: skip
        return history


PAPER = Paper(
    title="STAMP: Short-Term Attention/Memory Priority Model for Session-based Recommendation",
    authors="Qiao Liu, Yifu Zeng, Refuoe Mokhosi, Haibin Zhang",
    venue="KDD",
    year=2018,
    url="https://doi.org/10.1145/3219819.3219950",
)


@lru_cache(maxsize=1)
def _tiny_data():
    from recnotes.data.retrieval import retrieval_synthetic

    return retrieval_synthetic(num_users=40, num_items=30, max_len=6, seed=0)


def _tiny() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    data = _tiny_data()
    model = STAMP(data.schema, STAMPConfig(embed_dim=8, init_std=0.1))
    return model, {k: v.clone() for k, v in data.train[:12].items()}


SPEC = register(
    ModelSpec(
        name="stamp",
        display_name="STAMP",
        stage="recall",
        family="sequential",
        paper=PAPER,
        cls=STAMP,
        config_cls=STAMPConfig,
        tiny=_tiny,
        summary="Attention over the session for the general interest, the last click for the current one.",
        status="implemented",
        note="recall/stamp.md",
    )
)
