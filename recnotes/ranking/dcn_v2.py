"""DCN-V2: cross layers with a full (or low-rank, or mixture-of-experts) weight matrix, stacked
under or beside a deep MLP.

Paper: *DCN V2: Improved Deep & Cross Network and Practical Lessons for Web-scale Learning to Rank
Systems*, Ruoxi Wang, Rakesh Shivanna, Derek Z. Cheng, Sagar Jain, Dong Lin, Lichan Hong and Ed H.
Chi, WWW 2021, https://arxiv.org/abs/2008.13535.

Stage: ranking (CTR prediction).

The idea: DCN's cross layer projects ``x_l`` onto one vector ``w_l``, so every layer can only
rescale ``x_0``. DCN-V2 replaces the vector by a matrix: ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``,
where ``*`` is the element-wise product, so every coordinate of the next layer is its own weighted
cross of the input. Because the learned ``W_l`` tends to be low-rank, it can be factorised as
``U_l V_l^T``; DCN-Mix goes further and mixes several low-rank experts per layer with input-dependent
gates, each applying a non-linearity in its small projected space. The cross network either feeds
the deep network (stacked) or runs beside it (parallel).

Shape legend: ``B`` batch, ``F`` embedded fields (sparse plus sequence), ``D`` embedding dim, ``P``
total width of the dense features, ``d = F D + P`` the width of ``x_0``, ``r`` the low rank,
``E`` experts, ``H`` a hidden width.

Differences from the paper:

* DCN-Mix is this class with :class:`DCNMixConfig` (four experts of rank 64 by default). The paper
  leaves the gate and the non-linearity ``g`` open; here the gate is a softmax over a linear map of
  ``x_l`` and ``g`` is ``tanh`` (``expert_activation``).
* No L2 penalty on the cross weights in the model; the Trainer's ``weight_decay`` adds one if wanted.
* Sequence features (absent from the paper) are mean-pooled into one vector per field, and dense
  features are appended to ``x_0`` unchanged (the paper normalises them first).
* The stacked fields come out sparse first, then sequences, then the dense features.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import MLP, PackedEmbedding
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["DCNv2Config", "DCNMixConfig", "CrossLayerV2", "LowRankMixtureLayer", "DCNv2"]

_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")
_EXPERT_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}
_STRUCTURES = ("stacked", "parallel")


@dataclass(frozen=True)
class DCNv2Config:
    """Hyper-parameters of :class:`DCNv2`.

    ``low_rank=0`` gives full-rank cross layers (Eq. 2); ``low_rank=r`` factorises every
    ``W_l`` as ``U_l V_l^T`` of rank ``r`` (Eq. 3); ``num_experts > 1`` makes every layer a gated
    mixture of low-rank experts (DCN-Mix, Eqs. 4-6).

    Example:
        >>> DCNv2Config(structure="parallel").structure
        'parallel'
        >>> DCNv2Config(num_experts=4)
        Traceback (most recent call last):
        ...
        ValueError: a mixture of experts (num_experts=4) needs low-rank experts: set low_rank >= 1
    """

    embed_dim: int = 30  # DCN-V2 paper, MovieLens-1M setting: embedding size 30
    num_cross_layers: int = 3  # recnotes choice, not tuned (the paper searches the depth)
    low_rank: int = 0  # 0: full-rank W_l (DCN-V2); r >= 1: W_l = U_l V_l^T (paper, Sec. 5)
    num_experts: int = 1  # 1: one cross per layer; > 1: DCN-Mix (paper, Sec. 5)
    expert_activation: str = "tanh"  # g of DCN-Mix; the paper leaves it open (recnotes choice)
    structure: str = "stacked"  # paper, Sec. 3: "stacked" or "parallel"
    hidden: tuple[int, ...] = (400, 400, 400)  # recnotes choice, the widths of Embedding&MLP
    activation: str = "relu"  # paper, Eq. (3): ReLU deep layers
    dropout: float = 0.0  # none: early stopping on validation AUC is the regulariser
    batch_norm: bool = False  # off: rows stay independent in training as in serving
    init_std: float = 0.01  # standard deviation of the embedding initialisation (recnotes default)
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # JSON configs (checkpoints, --set) hold lists
            object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if self.num_cross_layers < 0:
            raise ValueError(f"num_cross_layers cannot be negative, got {self.num_cross_layers}")
        if self.low_rank < 0:
            raise ValueError(
                f"low_rank must be 0 (full rank) or a positive rank, got {self.low_rank}"
            )
        if self.num_experts < 1:
            raise ValueError(f"num_experts must be at least 1, got {self.num_experts}")
        if self.num_experts > 1 and self.low_rank == 0:
            raise ValueError(
                f"a mixture of experts (num_experts={self.num_experts}) needs low-rank experts: "
                "set low_rank >= 1"
            )
        if self.expert_activation not in _EXPERT_ACTIVATIONS:
            raise ValueError(
                f"expert_activation must be one of {tuple(_EXPERT_ACTIVATIONS)}, "
                f"got {self.expert_activation!r}"
            )
        if self.structure not in _STRUCTURES:
            raise ValueError(
                "structure must be 'stacked' (cross network, then deep network) or 'parallel' "
                f"(side by side), got {self.structure!r}"
            )
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"every hidden width must be at least 1, got {self.hidden}")
        if self.num_cross_layers == 0 and not self.hidden:
            raise ValueError(
                "DCN-V2 needs a cross network or a deep network: "
                "num_cross_layers and hidden are both empty"
            )
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


@dataclass(frozen=True)
class DCNMixConfig(DCNv2Config):
    """:class:`DCNv2Config` with the DCN-Mix defaults: a mixture of low-rank experts per layer.

    Example:
        >>> config = DCNMixConfig()
        >>> config.num_experts, config.low_rank, isinstance(config, DCNv2Config)
        (4, 64, True)
    """

    low_rank: int = 64  # recnotes choice, not tuned
    num_experts: int = 4  # recnotes choice, not tuned


# --8<-- [start:cross]
class CrossLayerV2(nn.Module):
    """Eq. (2) ``x_0 * (W_l x_l + b_l) + x_l``, or Eq. (3) with ``W_l = U_l V_l^T`` when ``low_rank``."""

    def __init__(self, dim: int, low_rank: int = 0) -> None:
        super().__init__()
        if low_rank:
            self.project = nn.Sequential(
                nn.Linear(dim, low_rank, bias=False),  # V_l^T: (d,) -> (r,)
                nn.Linear(low_rank, dim),  # U_l and b_l: (r,) -> (d,)
            )
        else:
            self.project = nn.Linear(dim, dim)  # W_l and b_l

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.project(x) + x  # (B, d)


# --8<-- [end:cross]


# --8<-- [start:mixture]
class LowRankMixtureLayer(nn.Module):
    """Eqs. (4)-(6): ``sum_i G_i(x_l) x_0 * (U_i g(C_i g(V_i^T x_l)) + b_l) + x_l``, experts batched."""

    def __init__(self, dim: int, low_rank: int, num_experts: int, activation: str = "tanh") -> None:
        super().__init__()
        e, r = num_experts, low_rank
        self.V = nn.Parameter(torch.randn(e, dim, r) * dim**-0.5)  # V_i: (E, d, r)
        self.C = nn.Parameter(torch.randn(e, r, r) * r**-0.5)  # C_i: (E, r, r)
        self.U = nn.Parameter(torch.randn(e, dim, r) * r**-0.5)  # U_i: (E, d, r)
        self.bias = nn.Parameter(torch.zeros(dim))  # b_l, shared by the experts
        self.gate = nn.Linear(dim, e, bias=False)  # G(x_l) = softmax(W_g x_l), Eq. (5)
        self.g = _EXPERT_ACTIVATIONS[activation]

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. (5): one weight per expert, ``(B, d) -> (B, E)``; each row sums to one."""
        return torch.softmax(self.gate(x), dim=-1)

    def experts(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Eq. (6): every expert's cross, ``(B, d) -> (B, E, d)``, all experts in three matmuls."""
        h = self.g(torch.einsum("bd,edr->ber", x, self.V))  # g(V_i^T x_l): (B, E, r)
        h = self.g(torch.einsum("ber,esr->bes", h, self.C))  # g(C_i h): (B, E, r)
        u = torch.einsum("ber,edr->bed", h, self.U) + self.bias  # U_i h + b_l: (B, E, d)
        return x0.unsqueeze(1) * u  # (B, E, d)

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mixed = torch.einsum("be,bed->bd", self.gates(x), self.experts(x0, x))  # Eq. (4)
        return mixed + x  # (B, d)


# --8<-- [end:mixture]


class DCNv2(nn.Module):
    """The DCN-V2 click model (and DCN-Mix, with :class:`DCNMixConfig`).

    Every non-label feature of the schema is an input: sparse and sequence features are embedded
    (sequences mean-pooled) and stacked, and dense features are appended to the stack unchanged
    (Eq. 1). ``structure="stacked"`` feeds the cross network's output to the deep network and the
    output layer reads the deep network; ``structure="parallel"`` feeds ``x_0`` to both and the
    output layer reads their concatenation (Eq. 8). ``hidden=()`` leaves the cross network alone.

    Args:
        schema: the features; needs at least one sparse or sequence feature.
        config: hyper-parameters (:class:`DCNv2Config` or :class:`DCNMixConfig`).

    Shapes:
        * ``stack(batch)``: ``(B, d)`` with ``d = F * D + P`` (Eq. 1).
        * ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_dcn_v2()
        >>> model(batch).shape, model.input_dim == 3 * 4 + 2
        (torch.Size([6]), True)
        >>> mix = DCNv2(model.schema, DCNMixConfig(embed_dim=4, low_rank=2, hidden=(8,)))
        >>> mix(batch).shape
        torch.Size([6])
    """

    def __init__(self, schema: Schema, config: DCNv2Config = DCNv2Config()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        if not fields:
            raise ValueError("DCN-V2 needs at least one sparse or sequence feature to embed")
        self._inputs = schema.select(fields + self.dense)  # what check_inputs validates
        self.embedding = PackedEmbedding(schema, config.embed_dim, fields, init_std=config.init_std)
        self.fields = self.embedding.fields  # stacking order: sparse, then sequences
        dense_width = sum(schema[name].dim for name in self.dense)
        d = self.input_dim = len(self.fields) * config.embed_dim + dense_width
        self.cross = nn.ModuleList(
            LowRankMixtureLayer(d, config.low_rank, config.num_experts, config.expert_activation)
            if config.num_experts > 1
            else CrossLayerV2(d, config.low_rank)
            for _ in range(config.num_cross_layers)
        )
        self.deep = (
            MLP(
                d,
                config.hidden,
                activation=config.activation,
                dropout=config.dropout,
                batch_norm=config.batch_norm,
            )
            if config.hidden
            else None
        )
        deep_width = config.hidden[-1] if config.hidden else 0
        if config.structure == "parallel" or self.deep is None:
            out_width = (d if config.num_cross_layers else 0) + deep_width
        else:
            out_width = deep_width  # stacked: the deep network's output alone
        self.output = nn.Linear(out_width, 1)  # w_logit of Eq. (8)

    # --8<-- [start:stack]
    def stack(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (1): ``x_0 = [e_1; ...; e_F; dense]``, the input of the cross network."""
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        e = self.embedding(batch)  # (B, F, D), one look-up for every sparse field
        blocks = [e.flatten(1)]  # (B, F * D)
        for name in self.dense:
            x = batch[name].to(e.dtype)
            blocks.append(x.unsqueeze(-1) if x.dim() == 1 else x)  # (B,) -> (B, 1)
        return torch.cat(blocks, dim=-1) if len(blocks) > 1 else blocks[0]  # (B, d)

    # --8<-- [end:stack]

    def cross_network(self, x0: torch.Tensor) -> torch.Tensor:
        """Eqs. (2)-(6) applied layer after layer: ``x_0 -> x_L``, ``(B, d) -> (B, d)``."""
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        return x

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x0 = self.stack(batch)  # (B, d)
        if self.deep is None:  # the cross network alone
            final = self.cross_network(x0)  # (B, d)
        elif self.config.structure == "stacked":
            final = self.deep(self.cross_network(x0))  # Eq. (7): (B, d) -> (B, H)
        else:  # parallel; without cross layers this is the deep network alone
            parts = [self.cross_network(x0)] if len(self.cross) else []
            final = torch.cat([*parts, self.deep(x0)], dim=-1)  # Eq. (7): (B, d + H)
        return self.output(final).squeeze(-1)  # Eq. (8): (B,) logits

    # --8<-- [end:forward]


def tiny_dcn_v2() -> tuple[DCNv2, dict[str, torch.Tensor]]:
    """A tiny model and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    config = DCNv2Config(embed_dim=4, num_cross_layers=2, hidden=(8, 4), init_std=0.1)
    return DCNv2(schema, config), batch


def tiny_dcn_mix() -> tuple[DCNv2, dict[str, torch.Tensor]]:
    """The same tiny set-up with a parallel DCN-Mix: three experts of rank 2 per layer."""
    model, batch = tiny_dcn_v2()
    config = DCNMixConfig(
        embed_dim=4, num_cross_layers=2, low_rank=2, num_experts=3, structure="parallel",
        hidden=(8,), init_std=0.1,
    )  # fmt: skip
    return DCNv2(model.schema, config), batch


_PAPER = Paper(
    title="DCN V2: Improved Deep & Cross Network and Practical Lessons for Web-scale Learning to "
    "Rank Systems",
    authors="Wang et al.",
    venue="WWW",
    year=2021,
    url="https://arxiv.org/abs/2008.13535",
)

SPEC = register(
    ModelSpec(
        name="dcn-v2",
        display_name="DCN-V2",
        stage="ranking",
        family="ranking",
        paper=_PAPER,
        cls=DCNv2,
        config_cls=DCNv2Config,
        tiny=tiny_dcn_v2,
        summary="Cross layers x0 * (W xl + b) + xl with a full weight matrix, stacked or parallel.",
        status="reproduced",  # results/frappe/dcn-v2.json: test AUC within 0.003 of BARS (3 seeds)
        note="ranking/dcn_v2.md",
    )
)

MIX_SPEC = register(
    ModelSpec(
        name="dcn-mix",
        display_name="DCN-Mix",
        stage="ranking",
        family="ranking",
        paper=_PAPER,
        cls=DCNv2,
        config_cls=DCNMixConfig,
        tiny=tiny_dcn_mix,
        summary="DCN-V2 whose cross layers mix gated low-rank experts (DCNv2 with DCNMixConfig).",
        status="implemented",
        note="ranking/dcn_v2.md",
    )
)
