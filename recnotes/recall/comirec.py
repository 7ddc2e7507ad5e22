"""ComiRec: multi-interest retrieval with a controllable accuracy-diversity trade-off.

Paper: Yukuo Cen, Jianwei Zhang, Xu Zou, Chang Zhou, Hongxia Yang and Jie Tang, "Controllable
Multi-Interest Framework for Recommendation", KDD 2020. https://arxiv.org/abs/2005.09347

Stage: recall (family ``recall``).

ComiRec reads ``K`` interest vectors from a user's behaviour sequence with one of two extractors.
ComiRec-DR routes the behaviours to interests by dynamic routing, with a separate bilinear map for
every (position, interest) pair and routing logits that start at zero. ComiRec-SA uses
self-attention instead: ``K`` attention heads over the sequence (with positional embeddings), each
head's weighted sum of the behaviours is one interest. Training picks, for each example, the
interest closest to the target item and scores it with a sampled softmax. At serving each interest
retrieves its top items, and a greedy **aggregation module** builds the final list, trading the
retrieval score against category diversity with one knob ``lambda`` (``lambda = 0``: the plain
merge by best score).

Shape legend: ``B`` batch, ``L`` history length, ``D`` embedding dim, ``K`` interests, ``d_a``
attention width, ``M`` sampled negatives, ``N`` catalogue rows.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/comirec.md``.

Differences from the paper:

- Negatives: ``num_negatives`` item ids drawn uniformly per batch and shared by its rows
  ([`sampled_softmax`][recnotes.losses.sampled_softmax]); the authors' code uses TensorFlow's
  sampled softmax with its default log-uniform sampler.
- Histories are left-padded (the most recent item is always at position ``L - 1``), so the
  per-position maps of ComiRec-DR and the positional embeddings of ComiRec-SA are indexed from
  the end of the sequence; the authors' code right-pads.
- ComiRec-DR's bilinear weights are drawn from ``N(0, 1/D)`` (the authors' code: ``N(0, 1)``), so
  a prediction ``W e`` has the scale of the embedding ``e``.
- ``aggregate`` loops over users in Python (it serves a handful of users at a time in a demo);
  the scoring inside is vectorised.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.layers import FeatureEmbedding, dynamic_routing
from recnotes.losses import sampled_softmax
from recnotes.registry import ModelSpec, Paper, register

__all__ = [
    "ComiRecDRConfig",
    "ComiRecSAConfig",
    "ComiRecDR",
    "ComiRecSA",
    "hard_readout",
    "aggregate",
    "item_categories",
]


def _positive_ints(config: object, names: Sequence[str]) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _positive_floats(config: object, names: Sequence[str]) -> None:
    for name in names:
        if not getattr(config, name) > 0:
            raise ValueError(f"{name} must be > 0, got {getattr(config, name)}")


@dataclass(frozen=True)
class ComiRecDRConfig:
    """Hyper-parameters of :class:`ComiRecDR`.

    Example:
        >>> ComiRecDRConfig().num_interests
        4
    """

    embed_dim: int = 64  # D; paper, experimental settings: 64
    num_interests: int = 4  # K; paper, experimental settings: 4
    routing_iters: int = 3  # authors' code: three iterations
    num_negatives: int = 1280  # shared uniform negatives per batch (authors' code: 10 x batch 128)
    # Squashed interests have norm < 1, so a logit <v_k, e_i> is at most |e_i|: dividing by 0.1
    # lets the softmax sharpen before the item embeddings grow (recnotes choice; the code: 1).
    temperature: float = 0.1
    init_std: float = 0.1  # N(0, std) item embeddings (recnotes choice)
    check_inputs: bool = True  # validate batches against the schema (named errors)

    def __post_init__(self) -> None:
        _positive_ints(self, ("embed_dim", "num_interests", "routing_iters", "num_negatives"))
        _positive_floats(self, ("temperature", "init_std"))


@dataclass(frozen=True)
class ComiRecSAConfig:
    """Hyper-parameters of :class:`ComiRecSA`.

    Example:
        >>> ComiRecSAConfig(embed_dim=16).attention_width
        64
    """

    embed_dim: int = 64  # D; paper, experimental settings: 64
    num_interests: int = 4  # K; paper, experimental settings: 4
    attention_dim: int | None = None  # d_a; None: 4 D, as the authors' code
    num_negatives: int = 1280  # shared uniform negatives per batch (authors' code: 10 x batch 128)
    temperature: float = 0.1  # divides the logits; 0.1 learns far faster than 1 (recnotes choice)
    init_std: float = 0.1  # N(0, std) item and position embeddings (recnotes choice)
    check_inputs: bool = True  # validate batches against the schema (named errors)

    def __post_init__(self) -> None:
        _positive_ints(self, ("embed_dim", "num_interests", "num_negatives"))
        _positive_floats(self, ("temperature", "init_std"))
        if self.attention_dim is not None:
            _positive_ints(self, ("attention_dim",))

    @property
    def attention_width(self) -> int:
        """``d_a``: ``attention_dim``, or ``4 D`` when it is None."""
        return self.attention_dim or 4 * self.embed_dim


# -- what the two extractors share ----------------------------------------------------------------
# --8<-- [start:readout]
def hard_readout(interests: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The interest closest to the target item, ``v_u = V_u[argmax_k <v_k, e_i>]``, Eq. (6): ``(B, D)``."""
    best = (interests * target.unsqueeze(1)).sum(-1).argmax(dim=1)  # (B,)
    return interests[torch.arange(interests.shape[0], device=interests.device), best]


# --8<-- [end:readout]


class _ComiRec(nn.Module):
    """Embeddings, input checks and the training loss; a subclass extracts the interests."""

    def __init__(self, schema: Schema, config) -> None:
        super().__init__()
        for name, kind in (("history_ids", "sequence"), ("item_ids", "sparse")):
            if name not in schema or schema[name].kind != kind:
                raise ValueError(
                    f"{type(self).__name__} needs a {kind} feature '{name}' in the schema"
                )
        self.schema, self.config = schema, config
        self._user_inputs = schema.select(["history_ids"])
        self._item_inputs = schema.select(["item_ids"])
        self.embedding = FeatureEmbedding(
            schema, config.embed_dim, ["history_ids", "item_ids"], init_std=config.init_std
        )

    def extract(self, history: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` ids and their ``(B, L, D)`` embeddings -> interests ``(B, K, D)``."""
        raise NotImplementedError

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(B, K, D)``: the user's interest vectors, read from ``history_ids`` alone."""
        if self.config.check_inputs:
            self._user_inputs.validate(batch)
        history = batch["history_ids"]  # (B, L)
        return self.extract(history, self.embedding.embed("history_ids", history))

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(N, D)``: the item-id embedding of ``batch["item_ids"]`` (the paper uses ids only)."""
        if self.config.check_inputs:
            self._item_inputs.validate(batch)
        return self.embedding.embed("item_ids", batch["item_ids"])

    # --8<-- [start:loss]
    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Sampled softmax of the interest closest to the target, Eqs. (6)-(7)."""
        target = self.item_embedding(batch)  # (B, D)
        user = hard_readout(self.user_embedding(batch), target)  # (B, D), Eq. (6)
        vocab = self.schema["item_ids"].vocab_size
        negative_ids = torch.randint(1, vocab, (self.config.num_negatives,), device=target.device)
        negatives = self.embedding.embed("item_ids", negative_ids)  # (M, D)
        return sampled_softmax(
            user, target, negatives, positive_ids=batch["item_ids"],
            negative_ids=negative_ids, temperature=self.config.temperature,
        )  # Eq. (7)  # fmt: skip

    # --8<-- [end:loss]


class ComiRecDR(_ComiRec):
    """ComiRec-DR: interests by dynamic routing, one bilinear map per (position, interest).

    Args:
        schema: a retrieval schema with ``history_ids`` (sharing ``item_ids``) and ``item_ids``;
            other features are ignored (the paper reads the behaviour sequence only).
        config: see [`ComiRecDRConfig`][recnotes.recall.comirec.ComiRecDRConfig].

    Shapes:
        ``user_embedding(batch) -> (B, K, D)``; ``item_embedding(batch) -> (N, D)``;
        ``loss(batch) -> ()``.

    Returns:
        Raw vectors; an item's score is its best inner product over the ``K`` interests.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a bad ``history_ids`` or ``item_ids``.

    Example:
        >>> model, batch = tiny_comirec_dr()
        >>> model.eval().user_embedding(batch).shape
        torch.Size([16, 3, 8])
    """

    def __init__(self, schema: Schema, config: ComiRecDRConfig = ComiRecDRConfig()) -> None:
        super().__init__(schema, config)
        d, k, length = config.embed_dim, config.num_interests, schema["history_ids"].max_len
        self.bilinear = nn.Parameter(torch.randn(length, k, d, d) / d**0.5)  # W_{l,k}

    # --8<-- [start:dr]
    def extract(self, history: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        c_hat = torch.einsum("lkde,ble->bkld", self.bilinear, e)  # (B, K, L, D), Eq. (1)
        logits = torch.zeros(c_hat.shape[:3], device=e.device)  # (B, K, L): b starts at zero
        interests, _ = dynamic_routing(
            c_hat, logits, history != 0, iterations=self.config.routing_iters, detach_early=True
        )  # (B, K, D), Eqs. (2)-(3)
        return interests

    # --8<-- [end:dr]


class ComiRecSA(_ComiRec):
    """ComiRec-SA: interests by multi-head self-attention over the behaviour sequence.

    Args:
        schema: a retrieval schema with ``history_ids`` (sharing ``item_ids``) and ``item_ids``.
        config: see [`ComiRecSAConfig`][recnotes.recall.comirec.ComiRecSAConfig].

    Shapes:
        ``user_embedding(batch) -> (B, K, D)``; ``item_embedding(batch) -> (N, D)``;
        ``loss(batch) -> ()``.

    Returns:
        Raw vectors; an item's score is its best inner product over the ``K`` interests.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a bad ``history_ids`` or ``item_ids``.

    Example:
        >>> model, batch = tiny_comirec_sa()
        >>> model.eval().user_embedding(batch).shape
        torch.Size([16, 3, 8])
    """

    def __init__(self, schema: Schema, config: ComiRecSAConfig = ComiRecSAConfig()) -> None:
        super().__init__(schema, config)
        d, k, length = config.embed_dim, config.num_interests, schema["history_ids"].max_len
        self.position = nn.Parameter(torch.randn(length, d) * config.init_std)
        self.w1 = nn.Linear(d, config.attention_width, bias=False)  # W_1 (d_a x D)
        self.w2 = nn.Linear(config.attention_width, k, bias=False)  # W_2 (K x d_a)

    # --8<-- [start:sa]
    def extract(self, history: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = e + self.position  # (B, L, D): positions tell recent from old, Eq. (4)
        scores = self.w2(torch.tanh(self.w1(h))).transpose(1, 2)  # (B, K, L)
        scores = scores.masked_fill((history == 0).unsqueeze(1), torch.finfo(scores.dtype).min)
        attention = torch.softmax(scores, dim=-1)  # (B, K, L), each head sums to 1 over L
        return attention @ e  # (B, K, D): V = A H, Eq. (5)

    # --8<-- [end:sa]


# -- serving: the controllable aggregation --------------------------------------------------------
def item_categories(items: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """One category id per catalogue row: ``item_category``, else the first entry of a sequence
    feature ``item_genres`` or ``item_attributes`` (0 = none).

    Example:
        >>> item_categories({"item_ids": torch.arange(3),
        ...                  "item_genres": torch.tensor([[0, 0], [4, 2], [7, 0]])}).tolist()
        [0, 4, 7]
    """
    if "item_category" in items:
        return items["item_category"]
    for name in ("item_genres", "item_attributes"):
        if name in items:
            return items[name][:, 0]
    raise ValueError(
        "no category feature: expected item_category, item_genres or item_attributes "
        f"(the items have {sorted(items)})"
    )


# --8<-- [start:aggregate]
def aggregate(
    interests: torch.Tensor,
    item_vectors: torch.Tensor,
    categories: torch.Tensor,
    k: int,
    *,
    lam: float = 0.0,
    per_interest: int | None = None,
    exclude: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Greedy controllable aggregation (paper, Sec. 3.3): ``(B, k)`` item ids.

    Each interest retrieves its ``per_interest`` best items (default ``k``); from their union the
    list ``S`` grows one item at a time, each time the item that most increases
    ``Q(u, S) = sum_{i in S} f(u, i) + lam * sum_{i in S} sum_{j in S} g(i, j)`` (Eq. (8)), where
    ``f(u, i) = max_k <v_k, e_i>`` and ``g(i, j) = 1`` when the categories differ. ``lam = 0`` is
    the plain merge by best score; a larger ``lam`` buys category diversity with accuracy.

    Args:
        interests: ``(B, K, D)`` (or ``(K, D)`` for one user).
        item_vectors: ``(N, D)``; row ``i`` is item id ``i``.
        categories: ``(N,)`` category id per item.
        k: list length.
        lam: the diversity weight ``lambda >= 0``.
        per_interest: candidates each interest retrieves (>= ``k``).
        exclude: per user, item ids never to return (the history, the padding id 0).
    """
    v = interests.unsqueeze(0) if interests.dim() == 2 else interests
    m = per_interest or k
    if lam < 0 or m < k:
        raise ValueError(f"need lam >= 0 and per_interest >= k, got lam={lam}, per_interest={m}")
    if categories.shape != (item_vectors.shape[0],):
        raise ValueError("categories must hold one id per row of item_vectors")
    out = []
    for u in range(v.shape[0]):
        scores = v[u] @ item_vectors.T  # (K, N)
        if exclude is not None and len(exclude[u]):
            scores[:, exclude[u]] = float("-inf")
        candidates = torch.unique(scores.topk(m, dim=1).indices)  # union of per-interest top-m
        f = scores[:, candidates].max(dim=0).values  # (C,) best score over interests
        cats = categories[candidates]
        order = f.argsort(descending=True)  # ties in the gain go to the higher score
        candidates, f, cats = candidates[order], f[order], cats[order]
        diverse = torch.zeros_like(f)  # sum over j in S of g(i, j), per candidate
        taken = torch.zeros_like(f, dtype=torch.bool)
        chosen = []
        for _ in range(k):
            gain = (f + 2 * lam * diverse).masked_fill(taken, float("-inf"))  # Q(S+i) - Q(S)
            best = int(gain.argmax())
            taken[best] = True
            chosen.append(int(candidates[best]))
            diverse += (cats != cats[best]).to(f.dtype)
        out.append(torch.tensor(chosen))
    return torch.stack(out)


# --8<-- [end:aggregate]


@functools.lru_cache(maxsize=1)
def _tiny_data():
    return retrieval_synthetic(num_users=40, num_items=30, max_len=6, seed=0)


def _tiny(cls, config) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    data = _tiny_data()
    torch.manual_seed(0)
    return cls(data.schema, config), {k: v[:16] for k, v in data.train.columns.items()}


def tiny_comirec_dr() -> tuple[ComiRecDR, dict[str, torch.Tensor]]:
    """A tiny ComiRec-DR (D=8, K=3) and 16 training rows of a small synthetic dataset."""
    return _tiny(ComiRecDR, ComiRecDRConfig(embed_dim=8, num_interests=3, num_negatives=8))


def tiny_comirec_sa() -> tuple[ComiRecSA, dict[str, torch.Tensor]]:
    """A tiny ComiRec-SA (D=8, K=3) and 16 training rows of a small synthetic dataset."""
    return _tiny(ComiRecSA, ComiRecSAConfig(embed_dim=8, num_interests=3, num_negatives=8))


_PAPER = Paper(
    title="Controllable Multi-Interest Framework for Recommendation",
    authors="Cen et al.",
    venue="KDD",
    year=2020,
    url="https://arxiv.org/abs/2005.09347",
)
SPEC_DR = register(
    ModelSpec(
        name="comirec-dr",
        display_name="ComiRec-DR",
        stage="recall",
        family="recall",
        paper=_PAPER,
        cls=ComiRecDR,
        config_cls=ComiRecDRConfig,
        tiny=tiny_comirec_dr,
        summary="K interests by dynamic routing with per-position maps; diversity-aware merge.",
        status="implemented",
        note="recall/comirec.md",
    )
)
SPEC_SA = register(
    ModelSpec(
        name="comirec-sa",
        display_name="ComiRec-SA",
        stage="recall",
        family="recall",
        paper=_PAPER,
        cls=ComiRecSA,
        config_cls=ComiRecSAConfig,
        tiny=tiny_comirec_sa,
        summary="K interests by multi-head self-attention over the sequence; diversity-aware merge.",
        status="implemented",
        note="recall/comirec.md",
    )
)
