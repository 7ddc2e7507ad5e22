"""DCN: a cross network of explicit feature crosses beside a deep MLP, joined at the output layer.

Paper: *Deep & Cross Network for Ad Click Predictions*, Ruoxi Wang, Bin Fu, Gang Fu and Mingliang
Wang, ADKDD 2017 (KDD workshop), https://arxiv.org/abs/1708.05123.

Stage: ranking (CTR prediction).

The idea: embed every field and stack the vectors (and the dense features) into one input ``x_0``.
A cross layer multiplies ``x_0`` by a learned scalar projection of the previous layer's output,
``x_{l+1} = x_0 (x_l^T w_l) + b_l + x_l``, so each layer raises the polynomial degree of the
feature crosses by one while adding only ``2 d`` parameters. A plain MLP reads the same ``x_0`` in
parallel; the two outputs are concatenated and one linear unit gives the click logit. The outer
product ``x_0 x_l^T`` of the paper's formula is never built: ``(x_0 x_l^T) w_l = x_0 (x_l^T w_l)``.

Shape legend: ``B`` batch, ``F`` embedded fields (sparse plus sequence), ``D`` embedding dim, ``P``
total width of the dense features, ``d = F D + P`` the width of ``x_0``, ``H`` a hidden width.

Differences from the paper:

* One embedding width for every field (``embed_dim``); the paper sizes each field's embedding as
  ``6 x (cardinality)^(1/4)``.
* No batch normalisation in the deep network by default (``batch_norm=True`` turns it on; the paper
  uses it): rows stay independent in training as in serving.
* No L2 penalty in the model; the Trainer's ``weight_decay`` adds one if wanted.
* Sequence features (absent from the paper) are mean-pooled into one vector per field.
* The stacked fields come out sparse first, then sequences, then the dense features; the paper
  lists the embeddings and then the dense features, in no particular field order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import MLP, PackedEmbedding
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["DCNConfig", "CrossLayer", "DCN"]

_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")


@dataclass(frozen=True)
class DCNConfig:
    """Hyper-parameters of :class:`DCN`.

    Example:
        >>> DCNConfig(num_cross_layers=2).num_cross_layers
        2
        >>> DCNConfig(num_cross_layers=0, hidden=())
        Traceback (most recent call last):
        ...
        ValueError: DCN needs a cross network or a deep network: num_cross_layers and hidden are both empty
    """

    embed_dim: int = 30  # DCN-V2 paper, MovieLens-1M setting (DCN: 6 x cardinality^(1/4) per field)
    num_cross_layers: int = 6  # DCN paper, Sec. 4: the best Criteo DCN had 6 cross layers
    hidden: tuple[int, ...] = (1024, 1024)  # DCN paper, Sec. 4: and 2 deep layers of 1024
    activation: str = "relu"  # DCN paper, Eq. (4): ReLU deep layers
    dropout: float = 0.0  # the paper reports none
    batch_norm: bool = False  # the paper uses it; off so rows stay independent (see Differences)
    init_std: float = 0.01  # standard deviation of the embedding initialisation (recnotes default)
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # JSON configs (checkpoints, --set) hold lists
            object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if self.num_cross_layers < 0:
            raise ValueError(f"num_cross_layers cannot be negative, got {self.num_cross_layers}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"every hidden width must be at least 1, got {self.hidden}")
        if self.num_cross_layers == 0 and not self.hidden:
            raise ValueError(
                "DCN needs a cross network or a deep network: "
                "num_cross_layers and hidden are both empty"
            )
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


# --8<-- [start:cross]
class CrossLayer(nn.Module):
    """Eq. (2): ``x_{l+1} = x_0 x_l^T w_l + b_l + x_l``, computed as ``x_0 (x_l . w_l) + b_l + x_l``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim))  # w_l, (d,)
        self.bias = nn.Parameter(torch.zeros(dim))  # b_l, (d,)
        nn.init.normal_(self.weight, std=dim**-0.5)  # keeps x_l . w_l of order |x_l|

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        scale = x @ self.weight  # (B, d) -> (B,): x_l^T w_l, one number per row
        return x0 * scale.unsqueeze(-1) + self.bias + x  # (B, d); never the (B, d, d) outer product


# --8<-- [end:cross]


class DCN(nn.Module):
    """The Deep & Cross Network click model.

    Every non-label feature of the schema is an input: sparse and sequence features are embedded
    (sequences mean-pooled) and stacked, and dense features are appended to the stack unchanged, as
    in the paper (Eq. 1). The cross network and the deep network both read ``x_0``; the output layer
    reads their concatenation. ``num_cross_layers=0`` leaves the deep network alone (the paper's
    DNN baseline) and ``hidden=()`` the cross network alone (its "cross network only" ablation).

    Args:
        schema: the features; needs at least one sparse or sequence feature.
        config: hyper-parameters (:class:`DCNConfig`).

    Shapes:
        * ``stack(batch)``: ``(B, d)`` with ``d = F * D + P`` (Eq. 1).
        * ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_dcn()
        >>> model(batch).shape, model.input_dim == 3 * 4 + 2
        (torch.Size([6]), True)
    """

    def __init__(self, schema: Schema, config: DCNConfig = DCNConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        if not fields:
            raise ValueError("DCN needs at least one sparse or sequence feature to embed")
        self._inputs = schema.select(fields + self.dense)  # what check_inputs validates
        self.embedding = PackedEmbedding(schema, config.embed_dim, fields, init_std=config.init_std)
        self.fields = self.embedding.fields  # stacking order: sparse, then sequences
        dense_width = sum(schema[name].dim for name in self.dense)
        self.input_dim = len(self.fields) * config.embed_dim + dense_width
        self.cross = nn.ModuleList(
            CrossLayer(self.input_dim) for _ in range(config.num_cross_layers)
        )
        self.deep = (
            MLP(
                self.input_dim,
                config.hidden,
                activation=config.activation,
                dropout=config.dropout,
                batch_norm=config.batch_norm,
            )
            if config.hidden
            else None
        )
        cross_width = self.input_dim if config.num_cross_layers else 0
        deep_width = config.hidden[-1] if config.hidden else 0
        self.output = nn.Linear(cross_width + deep_width, 1)  # w_logits of Eq. (4)

    # --8<-- [start:stack]
    def stack(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (1): ``x_0 = [e_1; ...; e_F; dense]``, the input of both networks."""
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        e = self.embedding(batch)  # (B, F, D), one look-up for every sparse field
        blocks = [e.flatten(1)]  # (B, F * D)
        for name in self.dense:
            x = batch[name].to(e.dtype)
            blocks.append(x.unsqueeze(-1) if x.dim() == 1 else x)  # (B,) -> (B, 1)
        return torch.cat(blocks, dim=-1) if len(blocks) > 1 else blocks[0]  # (B, d)

    # --8<-- [end:stack]

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x0 = self.stack(batch)  # (B, d)
        parts = []
        if len(self.cross):
            x = x0
            for layer in self.cross:
                x = layer(x0, x)  # Eq. (2): (B, d)
            parts.append(x)
        if self.deep is not None:
            parts.append(self.deep(x0))  # Eq. (3): (B, H)
        joined = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]  # (B, d + H)
        return self.output(joined).squeeze(-1)  # Eq. (4): (B,) logits

    # --8<-- [end:forward]


def tiny_dcn() -> tuple[DCN, dict[str, torch.Tensor]]:
    """A tiny model and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    config = DCNConfig(embed_dim=4, num_cross_layers=2, hidden=(8, 4), init_std=0.1)
    return DCN(schema, config), batch


SPEC = register(
    ModelSpec(
        name="dcn",
        display_name="DCN",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Deep & Cross Network for Ad Click Predictions",
            authors="Wang et al.",
            venue="ADKDD",
            year=2017,
            url="https://arxiv.org/abs/1708.05123",
        ),
        cls=DCN,
        config_cls=DCNConfig,
        tiny=tiny_dcn,
        summary="Cross layers x0 (xl . wl) + bl + xl build bounded-degree crosses beside an MLP.",
        status="reproduced",  # results/frappe/dcn.json: test AUC within 0.003 of BARS (3 seeds)
        note="ranking/dcn.md",
    )
)
