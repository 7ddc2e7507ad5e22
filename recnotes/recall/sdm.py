"""SDM: Sequential Deep Matching, a retriever that fuses a user's current session with their past.

Paper: Fuyu Lv, Taiwei Jin, Changlong Yu, Fei Sun, Quan Lin, Keping Yang and Wilfred Ng,
"SDM: Sequential Deep Matching Model for Online Large-scale Recommender System", CIKM 2019.
https://arxiv.org/abs/1909.00385

Stage: recall (family ``sequential``: the user vector is read from the ordered history).

A user's next click depends on what they are doing now and on who they have been for a long time.
SDM reads the two apart. The most recent ``short_len`` behaviours go through an LSTM, then
multi-head self-attention (one session can hold several intents), then an attention whose query is
the user profile; that gives the short-term vector ``s``. The older behaviours are pooled by an
attention with the same profile query and squashed by a dense layer into the long-term vector
``p``. A learned gate decides, per dimension, how much of each to keep: ``o = (1 - G) * p + G * s``.
Items are scored by the inner product ``<o, v_i>``, trained with a sampled softmax.

Shape legend: ``B`` batch, ``L`` history length, ``S`` short-term length (``short_len``),
``L - S`` long-term length, ``D`` embedding dim, ``H`` attention heads, ``F`` profile fields,
``N`` items, ``M`` sampled negatives.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/sdm.md``.

Differences from the paper:

- Long-term behaviours: the paper splits them by side-information type (item id, leaf category,
  first-level category, brand, shop), attends over each subset and concatenates the results. Our
  batches carry only the history's item ids, so there is one subset (item ids) and ``W_p`` maps
  ``D`` to ``D``.
- Item inputs: the paper concatenates the id and side-information embeddings of every behaviour.
  History items here are their id embeddings, and so are the retrieved item vectors by default; with
  ``item_features=True`` the item side features (``item_*``) are mean-pooled with the id embedding
  on the output side (``item_embedding``), and ``set_item_table(data.items)`` must be called so
  that sampled negatives get their features too. One table serves input and output items.
- Sessions: the paper cuts sessions by time gaps and a 50-item cap. The short-term part here is the
  last ``short_len`` items of the history and the long-term part the rest (no time stamps needed).
- User profile: the paper embeds age, gender and life stage. Here every user-side sparse feature
  (``user_ids`` included unless ``use_user_ids=False``: Amazon Beauty has no other) is embedded,
  concatenated and projected to ``D``.
- Padding: the LSTM skips left padding (its state stays zero until the first real item), and an
  attention over positions that are all padding returns a zero vector instead of NaN.
- Negatives: uniform, shared by the batch (``recnotes.losses.sampled_softmax``); the paper uses
  TensorFlow's sampled softmax with its default log-uniform sampler.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema
from recnotes.data.retrieval import item_side, retrieval_synthetic, user_side
from recnotes.layers import FeatureEmbedding
from recnotes.losses import sampled_softmax
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["SDMConfig", "SDM", "masked_softmax", "UserAttention", "MultiHeadSelfAttention"]


# -- configuration --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SDMConfig:
    """SDM's size and training objective. Example: ``SDMConfig(embed_dim=64, short_len=5)``."""

    embed_dim: int = 64  # D; our choice (the paper's Taobao model is wider)
    short_len: int = 5  # S, the most recent items read as the session; our choice
    num_heads: int = 2  # H, self-attention heads over the session; our choice
    num_negatives: int = 100  # M uniform negatives shared by the batch; our choice
    temperature: float = 1.0  # divides the scores in the sampled softmax
    use_user_ids: bool = True  # embed user_ids in the profile (Beauty has no other user feature)
    item_features: bool = False  # pool item_* features into v_i (needs set_item_table)
    dropout: float = 0.0  # on the session states after the LSTM
    init_std: float = 0.01  # normal init of the embedding tables
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        for name in ("embed_dim", "short_len", "num_heads", "num_negatives"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads}): "
                "each head reads an equal slice"
            )
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not (self.init_std > 0 and math.isfinite(self.init_std)):
            raise ValueError(f"init_std must be a positive number, got {self.init_std!r}")


# -- blocks, in the order the forward pass uses them ----------------------------------------------
# --8<-- [start:blocks]
def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim restricted to ``mask``; a row with no true entry gives zeros.

    Example:
        >>> masked_softmax(torch.tensor([[1.0, 1.0, 5.0], [1.0, 2.0, 3.0]]),
        ...                torch.tensor([[True, True, False], [False, False, False]])).tolist()
        [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]
    """
    # a finite fill, not -inf: a row that is all padding must give zeros, not 0/0 = NaN
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=-1) * mask.to(scores.dtype)


class SessionLSTM(nn.Module):
    """Eq. (2): an LSTM over the session that skips left padding (state stays zero until the first item)."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        h = x.new_zeros(b, d)
        c = x.new_zeros(b, d)
        states = []
        for t in range(s):  # S is small (the session), so a loop over steps is cheap
            h_new, c_new = self.cell(x[:, t], (h, c))
            keep = mask[:, t : t + 1].to(x.dtype)  # padding must not move the state
            h = keep * h_new + (1 - keep) * h
            c = keep * c_new + (1 - keep) * c
            states.append(h)
        return torch.stack(states, dim=1)  # (B, S, D)


class MultiHeadSelfAttention(nn.Module):
    """Eq. (3): multi-head self-attention over the session states, padding masked as keys."""

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.out = nn.Linear(embed_dim, embed_dim)  # W^O

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.num_heads, d // self.num_heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, S, D/H)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.num_heads)  # (B, H, S, S)
        weights = masked_softmax(scores, mask[:, None, None, :])
        heads = (weights @ v).transpose(1, 2).reshape(b, s, d)  # concat the heads
        return self.out(heads)  # (B, S, D)


class UserAttention(nn.Module):
    """Eqs. (4) and (5): pool a sequence by softmax attention with the user profile as query."""

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = (keys @ query.unsqueeze(-1)).squeeze(-1)  # (B, T): <h_k, e_u>
        weights = masked_softmax(scores, mask)  # padding must not vote
        pooled = (weights.unsqueeze(-1) * keys).sum(dim=1)  # (B, D); zeros if all padding
        return pooled, weights


# --8<-- [end:blocks]


# -- the model ------------------------------------------------------------------------------------
class SDM(nn.Module):
    """Sequential Deep Matching: short-term session and long-term history, fused by a gate.

    Args:
        schema: the retrieval schema (``history_ids`` sharing the ``item_ids`` vocabulary;
            ``item_*`` features are item-side, the rest user-side).
        config: sizes and the sampled-softmax settings.

    Shapes:
        ``user_embedding(batch) -> (B, D)`` from the user-side features (``history_ids (B, L)``
        left-padded, the last ``S`` positions being the session); ``item_embedding(batch) ->
        (N, D)`` from the item-side features; ``loss(batch) -> ()`` on a training batch.

    Returns:
        Raw vectors; an item's score is the inner product of the two.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary.

    Example:
        >>> data = retrieval_synthetic(num_users=40, num_items=30, max_len=8)
        >>> model = SDM(data.schema, SDMConfig(embed_dim=8, short_len=3))
        >>> batch = data.train[:4]
        >>> model.user_embedding(batch).shape, model.item_embedding(data.items).shape
        (torch.Size([4, 8]), torch.Size([31, 8]))
        >>> bool(torch.isfinite(model.loss(batch)))
        True
    """

    def __init__(self, schema: Schema, config: SDMConfig = SDMConfig()) -> None:
        super().__init__()
        for name in ("history_ids", "item_ids"):
            if name not in schema:
                raise ValueError(f"SDM needs a '{name}' feature in the schema")
        self.schema, self.config = schema, config
        d = config.embed_dim
        self.num_items = schema["item_ids"].vocab_size
        user_fields = [n for n in user_side(schema) if schema[n].kind in ("sparse", "sequence")]
        self.profile_fields = [
            n
            for n in user_fields
            if n != "history_ids" and (config.use_user_ids or n != "user_ids")
        ]
        if not self.profile_fields:
            raise ValueError(
                "SDM's user profile is empty: the schema has no user feature besides history_ids "
                "(set use_user_ids=True to use the user id)"
            )
        extra = [n for n in item_side(schema) if n != "item_ids" and schema[n].kind != "dense"]
        self.item_fields = ["item_ids", *(extra if config.item_features else [])]
        self._user_inputs = schema.select([*self.profile_fields, "history_ids"])
        self._item_inputs = schema.select(self.item_fields)

        self.items = FeatureEmbedding(schema, d, self.item_fields, init_std=config.init_std)
        self.profile = FeatureEmbedding(schema, d, self.profile_fields, init_std=config.init_std)
        self.profile_proj = nn.Linear(len(self.profile_fields) * d, d, bias=False)
        self.lstm = SessionLSTM(d)
        self.dropout = nn.Dropout(config.dropout)
        self.self_attention = MultiHeadSelfAttention(d, config.num_heads)
        self.user_attention = UserAttention()
        self.long_proj = nn.Linear(d, d)  # W_p, b_p
        self.gate_user = nn.Linear(d, d, bias=False)  # W_1
        self.gate_short = nn.Linear(d, d, bias=False)  # W_2
        self.gate_long = nn.Linear(d, d)  # W_3 and b
        self._item_table: dict[str, torch.Tensor] | None = None  # see set_item_table

    # -- inputs ---------------------------------------------------------------------------------
    def _check(self, inputs: Schema, batch: Mapping[str, torch.Tensor]) -> None:
        if self.config.check_inputs:
            inputs.validate(batch)  # BatchError names the feature, not an IndexError

    # --8<-- [start:encoders]
    def encode(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every intermediate of the user tower (``e_u``, ``s``, ``z``, ``p``, ``gate``, ``o`` and the
        attention weights), for the tests and the note; ``user_embedding`` returns ``o``."""
        history = batch["history_ids"]  # (B, L), left-padded: the newest item is last
        e_u = self.profile_proj(self.profile(batch).flatten(1))  # (B, F*D) -> (B, D), Eq. (1)
        split = max(history.shape[1] - self.config.short_len, 0)
        short_ids, long_ids = history[:, split:], history[:, :split]  # (B, S), (B, L - S)

        # short term: LSTM -> multi-head self-attention -> user attention
        x = self.items.embed("item_ids", short_ids)  # (B, S, D)
        short_mask = short_ids != 0
        h = self.dropout(self.lstm(x, short_mask))  # Eq. (2)
        h_hat = self.self_attention(h, short_mask)  # Eq. (3)
        s, short_weights = self.user_attention(e_u, h_hat, short_mask)  # Eq. (4)

        # long term: user attention over the older items, then a dense layer
        g = self.items.embed("item_ids", long_ids)  # (B, L - S, D)
        z, long_weights = self.user_attention(e_u, g, long_ids != 0)  # Eq. (5)
        p = torch.tanh(self.long_proj(z))  # Eq. (6)
        # --8<-- [end:encoders]

        # --8<-- [start:gate]
        logits = self.gate_user(e_u) + self.gate_short(s) + self.gate_long(p)  # (B, D)
        gate = torch.sigmoid(logits)  # Eq. (7)
        o = (1 - gate) * p + gate * s  # Eq. (8)
        # --8<-- [end:gate]
        return {"e_u": e_u, "s": s, "z": z, "p": p, "gate": gate, "o": o,
                "short_weights": short_weights, "long_weights": long_weights}  # fmt: skip

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The fused user vector ``o``, ``(B, D)``, Eq. (8)."""
        self._check(self._user_inputs, batch)
        return self.encode(batch)["o"]

    def _item_vectors(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        fields = self.items({k: batch[k] for k in self.item_fields})  # (N, F, D)
        return fields.mean(dim=1)  # (N, D); F = 1 without item_features

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``v_i``, ``(N, D)``: the id embedding (mean-pooled with the side features when
        ``item_features``)."""
        self._check(self._item_inputs, batch)
        return self._item_vectors(batch)

    # --8<-- [start:loss]
    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Sampled softmax of each row's next item against ``M`` uniform negatives, Eq. (9)."""
        self._check(self._user_inputs, batch)
        self._check(self._item_inputs, batch)
        o = self.encode(batch)["o"]  # (B, D)
        positive = self._item_vectors(batch)  # (B, D)
        negative_ids = torch.randint(1, self.num_items, (self.config.num_negatives,),
                                     device=o.device)  # fmt: skip
        negatives = self._item_vectors(self._catalogue_rows(negative_ids))  # (M, D)
        return sampled_softmax(o, positive, negatives, positive_ids=batch["item_ids"],
                               negative_ids=negative_ids, temperature=self.config.temperature)  # fmt: skip

    # --8<-- [end:loss]

    def set_item_table(self, items: Mapping[str, torch.Tensor]) -> None:
        """Keep the catalogue's item features (``data.items``), so that sampled negatives are
        embedded like the items they stand for; needed only with ``item_features=True``."""
        self._check(self._item_inputs, items)
        if items["item_ids"].shape[0] != self.num_items:
            raise ValueError(f"the item table must hold all {self.num_items} catalogue rows")
        self._item_table = {k: items[k] for k in self.item_fields}

    def _catalogue_rows(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        if len(self.item_fields) == 1:
            return {"item_ids": ids}
        if self._item_table is None:
            raise RuntimeError(
                "SDM with item_features=True embeds sampled negatives with their side features: "
                "call model.set_item_table(data.items) before training"
            )
        return {k: v.to(ids.device)[ids] for k, v in self._item_table.items()}


# -- registration ---------------------------------------------------------------------------------
PAPER = Paper(
    title="SDM: Sequential Deep Matching Model for Online Large-scale Recommender System",
    authors="Lv, Jin, Yu, Sun, Lin, Yang, Ng",
    venue="CIKM",
    year=2019,
    url="https://arxiv.org/abs/1909.00385",
)


@functools.lru_cache(maxsize=1)
def _tiny_data():
    return retrieval_synthetic(num_users=60, num_items=40, max_len=8, seed=0)


def _tiny() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    data = _tiny_data()
    model = SDM(data.schema, SDMConfig(embed_dim=8, short_len=3, num_heads=2, num_negatives=10,
                                       item_features=True))  # fmt: skip
    model.set_item_table(data.items)
    columns = data.train.columns
    rows = torch.argsort(-(columns["history_ids"] != 0).sum(1), stable=True)[:16]  # long ones
    return model, {k: v[rows] for k, v in columns.items()}


SDM_SPEC = register(
    ModelSpec(
        name="sdm",
        display_name="SDM",
        stage="recall",
        family="sequential",
        paper=PAPER,
        cls=SDM,
        config_cls=SDMConfig,
        tiny=_tiny,
        summary="An LSTM + self-attention session vector and an attention-pooled long-term vector, "
        "fused by a gate.",
        status="implemented",
        note="recall/sdm.md",
    )
)
