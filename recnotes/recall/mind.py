"""MIND: a multi-interest retriever that clusters a user's behaviours into interests by routing.

Paper: Chao Li, Zhiyuan Liu, Mengmeng Wu, Yuchi Xu, Pipei Huang, Huan Zhao, Guoliang Kang, Qiwei
Chen, Wei Li and Dik Lun Lee, "Multi-Interest Network with Dynamic Routing for Recommendation at
Tmall", CIKM 2019. https://arxiv.org/abs/1904.08030

Stage: recall (family ``recall``).

One user vector must point at everything a user might want next; a user who buys shoes and
cat food gets a vector between the two that retrieves neither. MIND gives each user ``K`` vectors
instead. Its multi-interest extractor treats every behaviour as a capsule and clusters the
behaviours into ``K`` interest capsules by behaviour-to-interest (B2I) dynamic routing: one shared
bilinear map, routing logits drawn at random for every sample, three iterations. Each interest is
concatenated with the user-profile embedding and passed through ReLU layers. In training, a
label-aware attention lets the target item pick the interests it belongs to; at serving, every
interest retrieves and the lists are merged by score.

Shape legend: ``B`` batch, ``L`` history length, ``D`` embedding dim, ``K`` interests, ``P`` profile
features, ``M`` sampled negatives, ``N`` catalogue rows.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/mind.md``.

Differences from the paper:

- Item vectors are the item-id embedding only. The paper mean-pools the embeddings of the item
  id and its side features (category, brand); here negatives are sampled by id, and a training
  batch carries side features for its target item only.
- Negatives: ``num_negatives`` item ids drawn uniformly per batch and shared by its rows
  ([`sampled_softmax`][recnotes.losses.sampled_softmax]); the paper says sampled softmax
  without naming the sampler.
- ``pow_p``: the label-aware attention raises the scores to the power ``p`` as
  ``sign(s) |s|^p`` so that negative scores keep their order (``s^p`` is undefined for a negative
  ``s`` and a non-integer ``p``); for ``p = 1`` and positive scores it is the paper's formula.
- At evaluation the initial routing logits are one fixed draw (a buffer made when the model is
  built), so serving is deterministic; in training they are drawn afresh for every sample and
  call. They are never learned or carried across batches (some public implementations keep them
  in a persistent variable that routing updates, which leaks one batch's routing into the next).
- The profile is the user-side sparse features *without* the user id by default
  (``use_user_ids=False``): the paper's profile is attributes such as gender and age. With the id,
  MIND memorised the training rows and scored below DSSM on Beauty and ML-1M (validation NDCG@10
  peaked after 2-4 epochs); Beauty, which has no other user feature, then has no profile at all.
- The last layer of the tower is linear (``linear_output=True``); the paper's layers are all ReLU.
  A ReLU output keeps every interest in the non-negative orthant and zeroes dead units; on Beauty
  the all-ReLU tower trailed the linear one at every epoch (validation NDCG@10 0.0237 against
  0.0296 after 9 epochs). ``linear_output=False`` gives the paper's tower.
- The dynamic interest number ``K'_u = max(1, min(K, log2 |I_u|))`` rounds ``log2`` down and
  counts the behaviours in the (capped) history window.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema
from recnotes.data.retrieval import retrieval_synthetic, user_side
from recnotes.layers import MLP, FeatureEmbedding, dynamic_routing
from recnotes.losses import sampled_softmax
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["MINDConfig", "MIND", "label_aware_attention", "interest_counts"]


@dataclass(frozen=True)
class MINDConfig:
    """Hyper-parameters of :class:`MIND`.

    Example:
        >>> MINDConfig(num_interests=4).routing_iters
        3
        >>> MINDConfig(pow_p=-1.0)
        Traceback (most recent call last):
        ...
        ValueError: pow_p must be >= 0 (0: plain average of the interests, inf: hard attention), got -1.0
    """

    embed_dim: int = 64  # D; the recall benchmark's common width (the paper tunes it)
    num_interests: int = 4  # K; the paper tunes K, recnotes default
    routing_iters: int = 3  # paper, Algorithm 1: three iterations
    routing_init_std: float = 1.0  # sigma of b ~ N(0, sigma^2); paper: "initialised randomly"
    dynamic_interests: bool = True  # paper: K'_u = max(1, min(K, log2 |I_u|))
    use_profile: bool = True  # paper, Fig. 2: profile embedding concatenated to each interest
    use_user_ids: bool = False  # the user id in the profile: it lets MIND memorise (see note)
    hidden: tuple[int, ...] = (256,)  # ReLU layers before the last (D wide); paper: "several"
    linear_output: bool = True  # the last (D wide) layer without ReLU; paper: ReLU (see note)
    pow_p: float = 1.0  # label-aware attention power; the paper tunes p
    num_negatives: int = 1280  # shared uniform negatives per batch (recnotes choice)
    temperature: float = 0.1  # divides the logits; 0.1 learns far faster than 1 (recnotes choice)
    init_std: float = 0.1  # N(0, std) embeddings (recnotes choice)
    check_inputs: bool = True  # validate batches against the schema (named errors)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # JSON configs hold lists
            object.__setattr__(self, "hidden", tuple(self.hidden))
        for name in ("embed_dim", "num_interests", "routing_iters", "num_negatives"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"every hidden width must be at least 1, got {self.hidden}")
        if not self.routing_init_std >= 0:
            raise ValueError(f"routing_init_std must be >= 0, got {self.routing_init_std}")
        if not self.pow_p >= 0:
            raise ValueError(
                "pow_p must be >= 0 (0: plain average of the interests, inf: hard attention), "
                f"got {self.pow_p}"
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")


# -- blocks, in the order the forward pass uses them ----------------------------------------------
# --8<-- [start:blocks]
def interest_counts(history_mask: torch.Tensor, num_interests: int) -> torch.Tensor:
    """``K'_u = max(1, min(K, floor(log2 |I_u|)))`` for each user, Eq. (5): ``(B,)``.

    Example:
        >>> mask = torch.tensor([[True] * n + [False] * (20 - n) for n in (1, 3, 4, 9, 20)])
        >>> interest_counts(mask, 4).tolist()
        [1, 1, 2, 3, 4]
    """
    n = history_mask.sum(dim=1).clamp_min(1).double()
    return torch.log2(n).floor().long().clamp(1, num_interests)


def label_aware_attention(
    interests: torch.Tensor, target: torch.Tensor, active: torch.Tensor, p: float
) -> torch.Tensor:
    """``v_u = V_u softmax(pow(V_u^T e_i, p))`` over the user's active interests, Eq. (7): ``(B, D)``.

    ``p = 0`` averages the interests, ``p = inf`` picks the one closest to the target.
    """
    scores = (interests * target.unsqueeze(1)).sum(-1)  # (B, K)
    if math.isinf(p):
        scores = scores.masked_fill(~active, float("-inf"))
        weights = nn.functional.one_hot(scores.argmax(1), scores.shape[1]).to(interests.dtype)
    else:
        # order-preserving power; p = 0 makes every score 1, i.e. the plain average
        powered = scores.sign() * scores.abs().pow(p) if p > 0 else torch.zeros_like(scores)
        weights = torch.softmax(powered.masked_fill(~active, float("-inf")), dim=1)  # (B, K)
    return (weights.unsqueeze(-1) * interests).sum(1)  # (B, D)


# --8<-- [end:blocks]


class MIND(nn.Module):
    """Multi-Interest Network with Dynamic routing.

    Args:
        schema: a retrieval schema (naming rule of [`recnotes.data.retrieval`][recnotes.data.retrieval]):
            ``history_ids`` (sharing the ``item_ids`` vocabulary), ``item_ids``, and any sparse
            user-profile features (``user_ids``, ``user_gender``, ...).
        config: see [`MINDConfig`][recnotes.recall.mind.MINDConfig].

    Shapes:
        ``user_embedding(batch) -> (B, K, D)``; ``interests(batch) -> ((B, K, D), (B, K))``;
        ``item_embedding(batch) -> (N, D)``; ``loss(batch) -> ()``.

    Returns:
        Raw vectors; an item's score for a user is its best inner product over the interests.
        With ``dynamic_interests`` a user with ``K'_u < K`` interests gets copies of interest 0 in
        the other ``K - K'_u`` rows of ``user_embedding``, so the max over rows is the max over
        the active interests (a copy never wins an item another interest would not; use
        ``interests`` for the mask).

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_mind()
        >>> model.eval().user_embedding(batch).shape, model.item_embedding(batch).shape
        (torch.Size([16, 3, 8]), torch.Size([16, 8]))
    """

    def __init__(self, schema: Schema, config: MINDConfig = MINDConfig()) -> None:
        super().__init__()
        for name, kind in (("history_ids", "sequence"), ("item_ids", "sparse")):
            if name not in schema or schema[name].kind != kind:
                raise ValueError(f"MIND needs a {kind} feature '{name}' in the schema")
        self.schema, self.config = schema, config
        self.profile = [
            n
            for n in user_side(schema)
            if schema[n].kind == "sparse"
            and config.use_profile
            and (config.use_user_ids or n != "user_ids")
        ]
        self._user_inputs = schema.select([*self.profile, "history_ids"])
        self._item_inputs = schema.select(["item_ids"])
        d, k, length = config.embed_dim, config.num_interests, schema["history_ids"].max_len
        fields = [*self.profile, "history_ids", "item_ids"]
        self.embedding = FeatureEmbedding(schema, d, fields, init_std=config.init_std)
        self.bilinear = nn.Linear(d, d, bias=False)  # S, shared by every (behaviour, interest)
        width = d * (1 + len(self.profile))
        if config.linear_output:  # ReLU layers, then a linear D-wide output
            self.tower = MLP(width, config.hidden, out_dim=d)
        else:  # ReLU layers, the last one D wide
            self.tower = MLP(width, (*config.hidden, d))
        # Serving draws its initial routing logits once, here: deterministic and never trained.
        gen = torch.Generator().manual_seed(0)
        self.register_buffer("serving_logits", torch.randn(k, length, generator=gen))

    # --8<-- [start:interests]
    def interests(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The interest vectors ``(B, K, D)`` and which are active ``(B, K)``."""
        if self.config.check_inputs:
            self._user_inputs.validate(batch)
        history = batch["history_ids"]  # (B, L)
        mask = history != 0  # padding must not vote
        e = self.embedding.embed("history_ids", history)  # (B, L, D)
        c_hat = self.bilinear(e).unsqueeze(1)  # (B, 1, L, D): S e_i for every interest, Eq. (1)
        k = self.config.num_interests
        b_size, length = history.shape
        if self.training:  # b ~ N(0, sigma^2), drawn per sample and call, Eq. (3)
            logits = torch.randn(b_size, k, length, device=e.device) * self.config.routing_init_std
        else:
            logits = (self.serving_logits * self.config.routing_init_std).expand(b_size, k, length)
        if self.config.dynamic_interests:
            count = interest_counts(mask, k)  # (B,), Eq. (5)
            active = torch.arange(k, device=e.device)[None, :] < count[:, None]  # (B, K)
        else:
            active = torch.ones(b_size, k, dtype=torch.bool, device=e.device)
        capsules, _ = dynamic_routing(
            c_hat.expand(b_size, k, length, -1), logits, mask,
            iterations=self.config.routing_iters, interest_mask=active,
        )  # (B, K, D), Eqs. (2)-(4)  # fmt: skip
        if self.profile:  # Eq. (6): [u_k ; p_u] through the ReLU layers
            p = torch.cat([self.embedding.embed(n, batch[n]) for n in self.profile], dim=-1)
            capsules = torch.cat([capsules, p.unsqueeze(1).expand(-1, k, -1)], dim=-1)
        return self.tower(capsules), active  # (B, K, D)

    # --8<-- [end:interests]

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(B, K, D)`` interests; inactive rows hold a copy of interest 0 (see Returns)."""
        v, active = self.interests(batch)
        return torch.where(active.unsqueeze(-1), v, v[:, :1])

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(N, D)``: the item-id embedding of ``batch["item_ids"]``."""
        if self.config.check_inputs:
            self._item_inputs.validate(batch)
        return self.embedding.embed("item_ids", batch["item_ids"])

    # --8<-- [start:loss]
    def loss(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Sampled softmax of the label-aware user vector against shared uniform negatives, Eq. (8)."""
        v, active = self.interests(batch)  # (B, K, D)
        target = self.item_embedding(batch)  # (B, D)
        user = label_aware_attention(v, target, active, self.config.pow_p)  # (B, D), Eq. (7)
        vocab = self.schema["item_ids"].vocab_size
        negative_ids = torch.randint(1, vocab, (self.config.num_negatives,), device=target.device)
        negatives = self.embedding.embed("item_ids", negative_ids)  # (M, D)
        return sampled_softmax(
            user, target, negatives, positive_ids=batch["item_ids"],
            negative_ids=negative_ids, temperature=self.config.temperature,
        )  # fmt: skip

    # --8<-- [end:loss]


@functools.lru_cache(maxsize=1)
def _tiny_data():
    return retrieval_synthetic(num_users=40, num_items=30, max_len=6, seed=0)


def tiny_mind() -> tuple[MIND, dict[str, torch.Tensor]]:
    """A tiny MIND (D=8, K=3) and the first 16 training rows of a small synthetic dataset."""
    data = _tiny_data()
    torch.manual_seed(0)
    model = MIND(
        data.schema, MINDConfig(embed_dim=8, num_interests=3, hidden=(8,), num_negatives=8)
    )
    batch = {k: v[:16] for k, v in data.train.columns.items()}
    return model, batch


SPEC = register(
    ModelSpec(
        name="mind",
        display_name="MIND",
        stage="recall",
        family="recall",
        paper=Paper(
            title="Multi-Interest Network with Dynamic Routing for Recommendation at Tmall",
            authors="Li et al.",
            venue="CIKM",
            year=2019,
            url="https://arxiv.org/abs/1904.08030",
        ),
        cls=MIND,
        config_cls=MINDConfig,
        tiny=tiny_mind,
        summary="Cluster the behaviours into K interest vectors by dynamic routing; each retrieves.",
        status="implemented",
        note="recall/mind.md",
    )
)
