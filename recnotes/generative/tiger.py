"""TIGER: generative retrieval, a sequence-to-sequence model that writes the next item's semantic id.

Paper: Shashank Rajput, Nikhil Mehta, Anima Singh, Raghunandan Keshavan, Trung Vu, Lukasz Heldt,
Lichan Hong, Yi Tay, Vinh Q. Tran, Jonah Samost, Maciej Kula, Ed H. Chi and Maheswaran Sathiamoorthy,
"Recommender Systems with Generative Retrieval", NeurIPS 2023. https://arxiv.org/abs/2305.05065

Stage: generative (family ``generative``): ``recommend(batch, k) -> item ids (B, k)``.

Every item has a semantic id, a short tuple of tokens from an RQ-VAE (:mod:`recnotes.generative.rqvae`).
The history becomes one token sequence (each item's tokens in a row) that a T5-style encoder reads;
a decoder then writes the next item's id token by token, like a translation model writing a word.
Retrieval is beam search, **constrained** by a prefix trie so that only ids that exist can be
written: at each step the tokens that do not continue some real item's id get a score of minus
infinity. There is no item-embedding table to search and no nearest-neighbour index; similar items
share id prefixes, so what the model learns about one item carries over to its neighbours.

Shape legend: ``B`` batch, ``L`` history length (items), ``T = C + 1`` tokens per id, ``V`` token
vocabulary, ``D`` model width, ``W`` beam width, ``k`` results.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/generative/tiger.md``.

Differences from the paper:

- The Transformer is a compact T5-style stack written here (pre-norm RMSNorm, bucketed relative
  position bias in the encoder's self-attention, no biases, ReLU feed-forward); the paper uses T5X.
  Sizes are configurable; the defaults are the paper's (4 + 4 layers, 6 heads of 64, d_model 128,
  feed-forward 1024, dropout 0.1).
- The paper prepends a hashed user-id token; it is omitted here (the model reads the history only).
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
from recnotes.data.retrieval import history_ids_of
from recnotes.generative.rqvae import SemanticIdError, SemanticIds, semantic_ids
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["TIGERConfig", "TIGER", "PrefixTrie"]

_PAD, _BOS = 0, 1  # token 0 pads the history, token 1 starts the decoder


@dataclass(frozen=True)
class TIGERConfig:
    """TIGER's Transformer sizes (defaults: the paper, Sec. 4.1) and beam width.

    Example:
        >>> TIGERConfig(d_model=64, num_heads=4, head_dim=16).encoder_layers
        4
    """

    d_model: int = 128  # paper: 128
    num_heads: int = 6  # paper: 6 heads ...
    head_dim: int = 64  # ... of 64 (the heads need not divide d_model, as in T5)
    d_ff: int = 1024  # paper: MLP 1024
    encoder_layers: int = 4  # paper: 4
    decoder_layers: int = 4  # paper: 4
    dropout: float = 0.1  # paper: 0.1
    relative_buckets: int = 32  # T5's relative-position buckets
    beam_size: int = 20  # beams kept by recommend()
    check_inputs: bool = True

    def __post_init__(self) -> None:
        for name in ("d_model", "num_heads", "head_dim", "d_ff", "encoder_layers",
                     "decoder_layers", "relative_buckets", "beam_size"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


# --8<-- [start:trie]
class PrefixTrie:
    """Which token may follow a prefix of a valid semantic id, for every prefix at once.

    Position ``j`` of an id uses tokens ``offsets[j] .. offsets[j] + vocab_sizes[j] - 1`` of the
    shared vocabulary. For each position the trie keeps the sorted keys ``prefix * V_j + token`` of
    every (prefix, next token) pair that occurs in some id, so a batch of prefixes is checked
    against all candidate tokens with one ``searchsorted``.
    """

    def __init__(self, ids: SemanticIds, offsets: list[int]) -> None:
        self.vocab_sizes = ids.vocab_sizes
        self.offsets = offsets
        codes = ids.ids  # (N, T), per-position token values (before offsets)
        self.valid: list[torch.Tensor] = []
        prefix = torch.zeros(codes.shape[0], dtype=torch.long)
        for j, size in enumerate(self.vocab_sizes):
            self.valid.append(torch.unique(prefix * size + codes[:, j]))  # sorted
            prefix = prefix * size + codes[:, j]

    def allowed(self, j: int, prefix: torch.Tensor) -> torch.Tensor:
        """``(P, V_j)`` bool: which values of position ``j`` continue each prefix key ``(P,)``."""
        size = self.vocab_sizes[j]
        keys = (
            prefix[:, None] * size + torch.arange(size, device=prefix.device)[None, :]
        )  # (P, V_j)
        valid = self.valid[j].to(prefix.device)
        at = torch.searchsorted(valid, keys).clamp_max(valid.numel() - 1)
        return valid[at] == keys


# --8<-- [end:trie]


class _RMSNorm(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


def _relative_bucket(distance: torch.Tensor, buckets: int, max_distance: int = 128) -> torch.Tensor:
    """T5's bidirectional bucketing of ``j - i``: exact for small distances, log-spaced beyond."""
    half = buckets // 2
    sign = (distance > 0).long() * half
    n = distance.abs()
    exact = half // 2
    large = (
        exact
        + (
            torch.log(n.float().clamp_min(1) / exact)
            / math.log(max_distance / exact)
            * (half - exact)
        ).long()
    )
    return sign + torch.where(n < exact, n, large.clamp_max(half - 1))


class _Attention(nn.Module):
    def __init__(self, config: TIGERConfig) -> None:
        super().__init__()
        inner = config.num_heads * config.head_dim
        self.heads, self.p = config.num_heads, config.dropout
        self.q = nn.Linear(config.d_model, inner, bias=False)
        self.kv = nn.Linear(config.d_model, 2 * inner, bias=False)
        self.o = nn.Linear(inner, config.d_model, bias=False)

    def keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``memory`` ``(B, n, D)``, split into heads: two ``(B, H, n, d_h)``."""
        b, n, _ = memory.shape
        k, v = self.kv(memory).chunk(2, dim=-1)
        return (k.view(b, n, self.heads, -1).transpose(1, 2),
                v.view(b, n, self.heads, -1).transpose(1, 2))  # fmt: skip

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None, bias: torch.Tensor,
                kv: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:  # fmt: skip
        """Attend from ``x`` to ``memory``, or to precomputed ``kv`` (``keys_values(memory)``)."""
        b, n, _ = x.shape
        k, v = self.keys_values(memory) if kv is None else kv
        q = self.q(x).view(b, n, self.heads, -1).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                             dropout_p=self.p if self.training else 0.0)  # fmt: skip
        return self.o(out.transpose(1, 2).reshape(b, n, -1))


class _Block(nn.Module):
    """Pre-norm T5 block: self-attention, (decoder only) cross-attention, ReLU feed-forward."""

    def __init__(self, config: TIGERConfig, cross: bool) -> None:
        super().__init__()
        d = config.d_model
        self.self_norm, self.self_attn = _RMSNorm(d), _Attention(config)
        self.cross = cross
        if cross:
            self.cross_norm, self.cross_attn = _RMSNorm(d), _Attention(config)
        self.ff_norm = _RMSNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, config.d_ff, bias=False), nn.ReLU(),
                                nn.Dropout(config.dropout), nn.Linear(config.d_ff, d, bias=False))  # fmt: skip
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, self_bias, memory=None, cross_bias=None, cross_kv=None):
        h = self.self_norm(x)
        x = x + self.dropout(self.self_attn(h, h, self_bias))
        if self.cross:
            h = self.cross_norm(x)
            x = x + self.dropout(self.cross_attn(h, memory, cross_bias, kv=cross_kv))
        return x + self.dropout(self.ff(self.ff_norm(x)))


class TIGER(nn.Module):
    """TIGER (Rajput et al., NeurIPS 2023): encoder-decoder over semantic-id tokens.

    Args:
        schema: must declare ``history_ids`` (sharing the ``item_ids`` vocabulary) and ``item_ids``.
        config: a :class:`TIGERConfig`.
        ids: the catalogue's :class:`~recnotes.generative.rqvae.SemanticIds` (every item id ``1..N``
            of the schema must have one).

    Shapes:
        ``forward(batch) -> (B, T, V)`` teacher-forced logits of the next item's id tokens (the
        batch's ``item_ids``); ``loss(batch) -> ()``; ``recommend(batch, k) -> (B, k)`` item ids.

    Example:
        >>> model, batch = _tiny()
        >>> model.recommend(batch, k=3).shape
        torch.Size([12, 3])
    """

    train_view = "rows"

    def __init__(self, schema: Schema, config: TIGERConfig = TIGERConfig(), *,
                 ids: SemanticIds | None = None) -> None:  # fmt: skip
        super().__init__()
        for name in ("history_ids", "item_ids"):
            if name not in schema:
                raise ValueError(f"TIGER needs the feature '{name}' in the schema")
        if ids is None:
            raise SemanticIdError("TIGER needs the catalogue's semantic ids (ids=...)")
        num_items = schema["item_ids"].vocab_size - 1
        if sorted(ids.item_ids.tolist()) != list(range(1, num_items + 1)):
            raise SemanticIdError(f"ids must cover exactly the item ids 1..{num_items}")
        self.schema, self.config, self.ids = schema, config, ids
        self.max_len = schema["history_ids"].max_len
        self.length = ids.length  # T tokens per id
        self.offsets = [2 + sum(ids.vocab_sizes[:j]) for j in range(self.length)]  # after PAD, BOS
        self.vocab = 2 + sum(ids.vocab_sizes)
        self.trie = PrefixTrie(ids, self.offsets)
        table = torch.zeros(num_items + 1, self.length, dtype=torch.long)  # item -> tokens
        table[ids.item_ids] = ids.ids + torch.tensor(self.offsets)
        self.register_buffer("item_tokens", table, persistent=False)
        self._history_schema = schema.select(["history_ids"])
        d = config.d_model
        self.embed = nn.Embedding(self.vocab, d, padding_idx=_PAD)
        nn.init.normal_(self.embed.weight, std=1.0 / math.sqrt(d))
        self.encoder = nn.ModuleList(
            _Block(config, cross=False) for _ in range(config.encoder_layers)
        )
        self.decoder = nn.ModuleList(
            _Block(config, cross=True) for _ in range(config.decoder_layers)
        )
        self.enc_norm, self.dec_norm = _RMSNorm(d), _RMSNorm(d)
        self.rel_bias = nn.Embedding(config.relative_buckets, config.num_heads)
        self.dec_position = nn.Embedding(self.length, d)
        self.head = nn.Linear(d, self.vocab, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    # --8<-- [start:encode]
    def encode(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """History ``(B, L)`` -> encoder states ``(B, L*T, D)`` and the key mask ``(B, L*T)``."""
        tokens = self.item_tokens[history].flatten(1)  # Eq. (1): (B, L*T); padding -> 0 tokens
        keep = tokens != _PAD
        n = tokens.shape[1]
        pos = torch.arange(n, device=tokens.device)
        buckets = _relative_bucket(pos[None, :] - pos[:, None], self.config.relative_buckets)
        bias = self.rel_bias(buckets).permute(2, 0, 1).unsqueeze(0)  # (1, H, n, n), T5-style
        bias = bias.masked_fill(~keep[:, None, None, :], float("-inf"))
        x = self.dropout(self.embed(tokens))
        for block in self.encoder:
            x = block(x, bias)
        return self.enc_norm(x), keep

    def decode(
        self,
        prefix: torch.Tensor,
        memory: torch.Tensor | None,
        keep: torch.Tensor,
        cross_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """Decoder logits ``(B, t, V)`` for a token prefix ``(B, t)`` that starts with BOS.

        ``cross_kv`` (from :meth:`cross_keys_values`) replaces ``memory``: beam search projects
        the encoder states to keys and values once per request instead of at every step.
        """
        t = prefix.shape[1]
        x = self.dropout(
            self.embed(prefix) + self.dec_position(torch.arange(t, device=prefix.device))
        )
        causal = torch.ones(t, t, dtype=torch.bool, device=prefix.device).tril()
        cross = keep[:, None, None, :]  # (B, 1, 1, n)
        for i, block in enumerate(self.decoder):
            x = block(x, causal, memory, cross, None if cross_kv is None else cross_kv[i])
        return self.head(self.dec_norm(x))  # Eq. (2): a distribution over the next token

    def cross_keys_values(self, memory: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each decoder layer's cross-attention keys and values of ``memory``: ``(B, H, n, d_h)``."""
        return [block.cross_attn.keys_values(memory) for block in self.decoder]

    # --8<-- [end:encode]

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Teacher-forced logits of the target item's id, ``(B, T, V)``."""
        history = self._history(batch)
        target = self._target(batch)
        memory, keep = self.encode(history)
        tokens = self.item_tokens[target]  # (B, T)
        prefix = torch.cat([torch.full_like(tokens[:, :1], _BOS), tokens[:, :-1]], dim=1)
        return self.decode(prefix, memory, keep)

    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of the target's id tokens, Eq. (3) (each step over its position's range)."""
        logits = self.forward(batch)  # (B, T, V)
        tokens = self.item_tokens[self._target(batch)]
        return F.cross_entropy(self._restrict(logits).flatten(0, 1), tokens.flatten())

    # --8<-- [start:beam]
    @torch.no_grad()
    def recommend(self, batch: Mapping[str, torch.Tensor], k: int = 10,
                  beam_size: int | None = None) -> torch.Tensor:  # fmt: skip
        """Constrained beam search: the ``k`` best complete ids, as item ids ``(B, k)``."""
        beam = beam_size or self.config.beam_size
        num_items = self.ids.item_ids.numel()
        if not 1 <= k <= beam:
            raise ValueError(f"k must be in [1, beam_size={beam}], got {k}")
        if k > num_items:
            raise ValueError(f"k={k} is larger than the catalogue ({num_items} items)")
        was = self.training
        self.eval()
        try:
            history = self._history(batch)
            memory, keep = self.encode(history)
            cross_kv = self.cross_keys_values(memory)  # once per request, not per beam and step
            b = history.shape[0]
            dev = history.device
            prefix = torch.full((b, 1, 1), _BOS, dtype=torch.long, device=dev)  # (B, W, t) tokens
            keys = torch.zeros(b, 1, dtype=torch.long, device=dev)  # trie key of each beam's prefix
            score = torch.zeros(b, 1, device=dev)  # log-probability of each beam
            for j in range(self.length):
                w = prefix.shape[1]
                kv = [(k.repeat_interleave(w, 0), v.repeat_interleave(w, 0)) for k, v in cross_kv]
                logits = self.decode(prefix.flatten(0, 1), None, keep.repeat_interleave(w, 0), kv)
                lo, size = self.offsets[j], self.ids.vocab_sizes[j]
                logp = F.log_softmax(logits[:, -1, lo : lo + size], dim=-1).view(b, w, size)
                ok = self.trie.allowed(j, keys.flatten()).view(b, w, size)  # Eq. (4): the trie
                total = (score[:, :, None] + logp).masked_fill(~ok, float("-inf"))
                top = total.flatten(1).topk(min(beam, total[0].numel()), dim=1)
                parent, value = top.indices // size, top.indices % size
                alive = torch.isfinite(top.values)
                score = top.values.masked_fill(~alive, float("-inf"))
                keys = keys.gather(1, parent) * size + value
                step = (value + lo)[:, :, None]
                prefix = torch.cat([prefix.gather(1, parent[:, :, None].expand(-1, -1, prefix.shape[2])),
                                    step], dim=2)  # fmt: skip
            codes = prefix[:, :, 1:] - torch.tensor(self.offsets, device=dev)  # (B, W, T) values
            items = self._items_of(codes.flatten(0, 1)).view(b, -1)
            items = items.masked_fill(~torch.isfinite(score), 0)
            order = score.argsort(dim=1, descending=True)[:, :k]
            return items.gather(1, order)
        finally:
            self.train(was)

    # --8<-- [end:beam]

    def _items_of(self, codes: torch.Tensor) -> torch.Tensor:
        """Item id of each complete id ``(P, T)`` (0 for an invalid one; never produced by the trie)."""
        table = self.item_tokens[1:] - torch.tensor(self.offsets, device=codes.device)  # (N, T)
        key = torch.zeros(table.shape[0], dtype=torch.long, device=codes.device)
        query = torch.zeros(codes.shape[0], dtype=torch.long, device=codes.device)
        for j, size in enumerate(self.ids.vocab_sizes):
            key, query = key * size + table[:, j], query * size + codes[:, j]
        order = torch.argsort(key)
        at = torch.searchsorted(key[order], query).clamp_max(key.numel() - 1)
        found = key[order][at] == query
        return torch.where(found, order[at] + 1, 0)

    def _restrict(self, logits: torch.Tensor) -> torch.Tensor:
        """Mask each decoder step's logits to its position's token range."""
        mask = torch.full((self.length, self.vocab), float("-inf"), device=logits.device)
        for j, size in enumerate(self.ids.vocab_sizes):
            mask[j, self.offsets[j] : self.offsets[j] + size] = 0.0
        return logits + mask

    def _history(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        history = history_ids_of(batch, self._history_schema if self.config.check_inputs else None)
        if history.shape[0] and not (history > 0).any(1).all():
            raise BatchError("history_ids", "a row is empty: TIGER needs at least one item")
        return history

    def _target(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if "item_ids" not in batch:
            raise BatchError("item_ids", "a training batch needs the next item in item_ids")
        target = batch["item_ids"]
        if (
            target.dtype.is_floating_point
            or target.min() < 1
            or target.max() >= self.item_tokens.shape[0]
        ):
            raise BatchError(
                "item_ids", f"must be item ids in [1, {self.item_tokens.shape[0] - 1}]"
            )
        return target


PAPER = Paper(
    title="Recommender Systems with Generative Retrieval",
    authors="Shashank Rajput, Nikhil Mehta, Anima Singh, Raghunandan Keshavan, Trung Vu, "
    "Lukasz Heldt, Lichan Hong, Yi Tay, Vinh Q. Tran, Jonah Samost, Maciej Kula, Ed H. Chi, "
    "Maheswaran Sathiamoorthy",
    venue="NeurIPS",
    year=2023,
    url="https://arxiv.org/abs/2305.05065",
)


@lru_cache(maxsize=1)
def _tiny_data():
    from recnotes.data.retrieval import retrieval_synthetic

    data = retrieval_synthetic(num_users=40, num_items=30, max_len=5, seed=0)
    gen = torch.Generator().manual_seed(0)
    n = data.num_items - 1
    codes = torch.stack([torch.randint(0, 4, (n,), generator=gen),
                         torch.randint(0, 4, (n,), generator=gen)], dim=1)  # fmt: skip
    return data, semantic_ids(codes, torch.arange(1, n + 1), codebook_size=4, max_collisions=8)


def _tiny() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    data, ids = _tiny_data()
    config = TIGERConfig(d_model=16, num_heads=2, head_dim=8, d_ff=32, encoder_layers=1,
                         decoder_layers=1, beam_size=5)  # fmt: skip
    return TIGER(data.schema, config, ids=ids), {k: v.clone() for k, v in data.train[:12].items()}


SPEC = register(
    ModelSpec(
        name="tiger",
        display_name="TIGER",
        stage="generative",
        family="generative",
        paper=PAPER,
        cls=TIGER,
        config_cls=TIGERConfig,
        tiny=_tiny,
        summary="An encoder-decoder writes the next item's semantic id, constrained to valid ids.",
        status="implemented",
        note="generative/tiger.md",
    )
)
