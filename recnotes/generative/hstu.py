"""HSTU: hierarchical sequential transduction units, the sequence model of generative recommenders.

Paper: Jiaqi Zhai, Lucy Liao, Xing Liu, Yueming Wang, Rui Li, Xuan Cao, Leon Gao, Zhaojie Gong,
Fangda Gu, Michael He, Yinghai Lu and Yu Shi, "Actions Speak Louder than Words: Trillion-Parameter
Sequential Transducers for Generative Recommendations", ICML 2024. https://arxiv.org/abs/2402.17152

Stage: generative (family ``sequential``). The user vector is read from the ordered history alone.

An HSTU layer is a Transformer layer redesigned for recommendation streams. One projection gives
four things at once, each through a SiLU: the queries and keys, the values, and a gate ``U``
(Eq. 1). Attention is **pointwise**: each weight is ``SiLU(q . k + rab)`` divided by the longest
history length, not a softmax over positions (Eq. 2), so a strong signal is not diluted by many weak ones
and the model keeps the intensity of a user's engagement. ``rab`` is a learned bias on the relative
position (and, when timestamps are given, on the time gap). The attended values are normalised,
gated by ``U`` and projected back (Eq. 3), with a residual connection. As in SASRec, the output at
each position scores the next item, trained at every position at once.

Shape legend: ``B`` batch, ``L`` history length, ``D`` embedding width, ``H`` heads, ``d_qk`` and
``d_v`` the per-head query/key and value widths, ``N`` catalogue rows (item ids + padding), ``M``
positions with a target in a batch.

Equation numbers ``Eq. (n)`` refer to the paper's Section 3.1 (Eqs. 1-3) and to the note,
``docs/en/generative/hstu.md``, which uses the same numbers.

Padded batches: ``history_ids`` is left-padded with 0. A padding position is never a key (its
attention weight is zero) and its output is zero, so a row's result does not depend on how much
padding it carries (tested). The reference implementation packs rows into jagged tensors and runs
Triton kernels; this module is plain PyTorch on padded tensors, which costs ``O(L^2)`` memory per
row but runs anywhere.

Differences from the paper:

- Training is a full softmax cross-entropy over all items on L2-normalised vectors with a
  temperature (Beauty has 12,101 items, so the full softmax is affordable); the paper samples
  negatives for its billion-item corpora.
- The time bias (``HSTUConfig(time_bias=True)``) needs timestamps (``history_times``, seconds),
  which our Amazon data does not have; the Beauty runs use the relative-position bias alone.
- Pointwise weights are divided by the model's history length ``L`` (a constant), so a row's result
  does not depend on its padding; the reference divides by the padded length of the batch, which
  is the same for full-length batches.
- The relative-position bias is one learned scalar per distance ``0..L-1``, shared by the heads; the
  time gap uses ``num_time_buckets`` buckets of ``log2`` seconds (the reference code buckets the
  log of the gap too, with its own base).
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

__all__ = ["HSTUConfig", "HSTU", "HSTULayer", "RelativeBias"]


@dataclass(frozen=True)
class HSTUConfig:
    """HSTU's size and objective.

    Example:
        >>> HSTUConfig(embed_dim=64, num_heads=2).qk_dim
        32
    """

    embed_dim: int = 64  # D; the reference ML-1M / Amazon configs use 50-64
    num_blocks: int = 2  # reference configs for the public datasets: 2 (ML-1M: 2-8)
    num_heads: int = 1  # reference public-dataset configs: 1
    attention_dim: int | None = None  # d_qk per head; None: D / H
    value_dim: int | None = None  # d_v per head; None: D / H
    dropout: float = 0.2  # reference Amazon config
    temperature: float = 0.05  # softmax temperature on unit vectors, as the reference code
    time_bias: bool = False  # a bias on the time gap; needs history_times (Amazon has none)
    num_time_buckets: int = 64  # log2-spaced time-gap buckets, when time_bias
    init_std: float = 0.02
    check_inputs: bool = True

    def __post_init__(self) -> None:
        for name in ("embed_dim", "num_blocks", "num_heads", "num_time_buckets"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("attention_dim", "value_dim"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be None or an integer >= 1, got {value!r}")
        if (
            self.attention_dim is None or self.value_dim is None
        ) and self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads} "
                "unless attention_dim and value_dim are given"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    @property
    def qk_dim(self) -> int:
        return self.attention_dim or self.embed_dim // self.num_heads

    @property
    def v_dim(self) -> int:
        return self.value_dim or self.embed_dim // self.num_heads


# --8<-- [start:bias]
class RelativeBias(nn.Module):
    """``rab^{p,t}``: a learned bias on the relative position ``i - j`` and, when timestamps are
    given, on the bucketed time gap ``log(|t_i - t_j|)``, ``(B, L, L)``."""

    def __init__(self, max_len: int, num_time_buckets: int = 0) -> None:
        super().__init__()
        self.position = nn.Parameter(torch.zeros(max_len))  # one scalar per distance 0..L-1
        self.num_time_buckets = num_time_buckets
        self.time = nn.Parameter(torch.zeros(num_time_buckets + 1)) if num_time_buckets else None

    def forward(self, length: int, times: torch.Tensor | None = None) -> torch.Tensor:
        idx = torch.arange(length, device=self.position.device)
        distance = (idx[:, None] - idx[None, :]).clamp(0, self.position.shape[0] - 1)
        bias = self.position[distance].unsqueeze(0)  # (1, L, L); j > i is masked later anyway
        if times is not None:
            if self.time is None:
                raise BatchError("history_times", "given, but the model has no time bias "
                                 "(HSTUConfig(time_bias=True) adds one)")  # fmt: skip
            gap = (times[:, :, None] - times[:, None, :]).abs().float()  # (B, L, L) seconds
            bucket = torch.log1p(gap).div(math.log(2.0)).long().clamp(0, self.num_time_buckets)
            bias = bias + self.time[bucket]
        return bias


# --8<-- [end:bias]


# --8<-- [start:layer]
class HSTULayer(nn.Module):
    """One HSTU layer: Eq. (1) projection, Eq. (2) pointwise attention, Eq. (3) gated output."""

    def __init__(self, config: HSTUConfig, max_len: int) -> None:
        super().__init__()
        d, h = config.embed_dim, config.num_heads
        self.heads, self.qk, self.v = h, config.qk_dim, config.v_dim
        self.max_len = max_len
        self.input_norm = nn.LayerNorm(d)
        self.f1 = nn.Linear(d, h * (2 * self.qk + 2 * self.v))  # U, V, Q, K in one matrix
        self.bias = RelativeBias(max_len, config.num_time_buckets if config.time_bias else 0)
        self.attention_norm = nn.LayerNorm(h * self.v)
        self.f2 = nn.Linear(h * self.v, d)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, keys: torch.Tensor, times: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x (B, L, D)``, ``keys (B, L, L)`` true where position i may attend to j."""
        b, length, _ = x.shape
        uvqk = F.silu(self.f1(self.input_norm(x)))  # Eq. (1): phi_1(f_1(X))
        u, v, q, k = uvqk.split([self.heads * self.v] * 2 + [self.heads * self.qk] * 2, dim=-1)
        heads = lambda t: t.view(b, length, self.heads, -1).transpose(1, 2)  # noqa: E731
        scores = heads(q) @ heads(k).transpose(-1, -2)  # (B, H, L, L): Q K^T
        scores = scores + self.bias(length, times).unsqueeze(1)  # + rab^{p,t}
        weights = F.silu(scores) / self.max_len * keys.unsqueeze(1)  # Eq. (2): phi_2, pointwise
        attended = (weights @ heads(v)).transpose(1, 2).reshape(b, length, -1)  # (B, L, H d_v)
        y = self.f2(self.attention_norm(attended) * u)  # Eq. (3): f_2(Norm(A V) * U)
        return x + self.dropout(y)


# --8<-- [end:layer]


class HSTU(nn.Module):
    """HSTU (Zhai et al., ICML 2024) as a next-item retriever over the item history.

    Args:
        schema: must declare ``history_ids`` (sharing the ``item_ids`` vocabulary) and
            ``item_ids``. An optional ``history_times`` batch column (seconds, ``(B, L)``)
            switches on the time bias.
        config: an :class:`HSTUConfig`.

    Shapes:
        ``sequence_output(history (B, L)) -> (B, L, D)`` (unit vectors; zero at padding);
        ``user_embedding(batch) -> (B, D)``; ``item_embedding(batch) -> (N, D)`` (unit vectors);
        ``loss(batch) -> ()`` on ``RetrievalData.sequences`` or ``RetrievalData.train`` rows.

    Example:
        >>> from recnotes.data.retrieval import retrieval_synthetic
        >>> data = retrieval_synthetic(num_users=40, num_items=30, max_len=8)
        >>> model = HSTU(data.schema, HSTUConfig(embed_dim=16))
        >>> u = model.user_embedding(data.test.users)
        >>> u.shape, bool(torch.allclose(u.norm(dim=1), torch.ones(40)))
        (torch.Size([40, 16]), True)
    """

    train_view = "sequences"

    def __init__(self, schema: Schema, config: HSTUConfig = HSTUConfig()) -> None:
        super().__init__()
        for name in ("history_ids", "item_ids"):
            if name not in schema:
                raise ValueError(f"HSTU needs the feature '{name}' in the schema")
        if schema["history_ids"].vocab_size != schema["item_ids"].vocab_size:
            raise ValueError("history_ids and item_ids must share one vocabulary")
        self.schema = schema
        self.config = config
        self.num_items = schema["item_ids"].vocab_size
        self.max_len = schema["history_ids"].max_len
        self._history_schema = schema.select(["history_ids"])
        d = config.embed_dim
        self.item = nn.Embedding(self.num_items, d, padding_idx=0)
        self.position = nn.Embedding(self.max_len, d)
        nn.init.normal_(self.item.weight, std=config.init_std)
        nn.init.normal_(self.position.weight, std=config.init_std)
        with torch.no_grad():
            self.item.weight[0].zero_()
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(
            HSTULayer(config, self.max_len) for _ in range(config.num_blocks)
        )
        self.output_norm = nn.LayerNorm(d)

    # --8<-- [start:forward]
    def sequence_output(
        self, history: torch.Tensor, times: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Unit output vectors at every position, ``(B, L) -> (B, L, D)``; ``t`` sees ``<= t``."""
        b, length = history.shape
        if length > self.max_len:
            raise BatchError("history_ids", f"length {length} exceeds max_len {self.max_len}")
        real = history > 0
        positions = torch.arange(self.max_len - length, self.max_len, device=history.device)
        x = self.item(history) * math.sqrt(self.config.embed_dim) + self.position(positions)
        x = self.dropout(x) * real.unsqueeze(-1)
        causal = torch.ones(length, length, dtype=torch.bool, device=history.device).tril()
        keys = (causal & real[:, None, :]).float()  # (B, L, L): earlier, non-padding keys
        for layer in self.layers:
            x = layer(x, keys, times) * real.unsqueeze(-1)  # padding stays zero
        return F.normalize(self.output_norm(x), dim=-1) * real.unsqueeze(-1)

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The unit output at the last position, ``(B, D)``."""
        history = self._history(batch)
        return self.sequence_output(history, batch.get("history_times"))[:, -1]

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Unit item embeddings, ``(N, D)`` (the padding row stays zero)."""
        if self.config.check_inputs:
            self.schema.select(["item_ids"]).validate({"item_ids": batch.get("item_ids")})
        return F.normalize(self.item(batch["item_ids"]), dim=-1)

    # --8<-- [end:forward]

    # --8<-- [start:loss]
    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Softmax cross-entropy of the next item at every target position, over all items."""
        history = self._history(batch)
        targets = next_item_targets(batch, history, self.num_items)
        hidden = self.sequence_output(history, batch.get("history_times"))
        mask = targets > 0
        items = F.normalize(self.item.weight[1:], dim=-1)  # (N - 1, D)
        logits = hidden[mask] @ items.T / self.config.temperature  # (M, N - 1)
        return F.cross_entropy(logits, targets[mask] - 1)

    # --8<-- [end:loss]

    def _history(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        history = history_ids_of(batch, self._history_schema if self.config.check_inputs else None)
        if self.config.check_inputs:
            times = batch.get("history_times")
            if times is not None and (
                times.shape != history.shape or times.dtype.is_floating_point
            ):
                raise BatchError("history_times", "must be integer seconds shaped like history_ids")
        return history


PAPER = Paper(
    title="Actions Speak Louder than Words: Trillion-Parameter Sequential Transducers for "
    "Generative Recommendations",
    authors="Jiaqi Zhai, Lucy Liao, Xing Liu, Yueming Wang, Rui Li, Xuan Cao, Leon Gao, "
    "Zhaojie Gong, Fangda Gu, Michael He, Yinghai Lu, Yu Shi",
    venue="ICML",
    year=2024,
    url="https://arxiv.org/abs/2402.17152",
)


@lru_cache(maxsize=1)
def _tiny_data():
    from recnotes.data.retrieval import retrieval_synthetic

    return retrieval_synthetic(num_users=40, num_items=30, max_len=6, seed=0)


def _tiny() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    data = _tiny_data()
    model = HSTU(data.schema, HSTUConfig(embed_dim=8, num_heads=2, dropout=0.1))
    return model, {k: v.clone() for k, v in data.train[:12].items()}


SPEC = register(
    ModelSpec(
        name="hstu",
        display_name="HSTU",
        stage="generative",
        family="sequential",
        paper=PAPER,
        cls=HSTU,
        config_cls=HSTUConfig,
        tiny=_tiny,
        summary="Pointwise (SiLU) attention with a relative bias and a gate: the generative "
        "recommender's sequence model.",
        status="implemented",
        note="generative/hstu.md",
    )
)
