"""DeepCrossing: embed, stack, and let a cascade of residual units find the feature crosses.

Paper: *Deep Crossing: Web-Scale Modeling without Manually Crafted Combinatorial Features*, Ying
Shan, T. Ryan Hoens, Jian Jiao, Haijing Wang, Dong Yu and J. C. Mao, KDD 2016,
https://doi.org/10.1145/2939672.2939704.

Stage: ranking (CTR prediction of sponsored-search ads).

The idea: replace hand-made combinatorial features with a deep network that learns them. Every
feature is embedded (low-dimensional features go in as they are), the vectors are stacked into one
long input, and a stack of residual units, each two fully connected layers whose output is added
back to their input, transforms it. A logistic scoring layer turns the result into a click
probability. The residual connection, taken from ResNet, is what lets the network be deep without
the optimisation stalling; the paper says it is the first use of residual units outside images.

Shape legend: ``B`` batch, ``F`` embedded fields (sparse plus sequence), ``D`` embedding dim, ``P``
total width of the dense features, ``N = F * D + P`` the stack width, ``H`` a residual unit's inner
width.

Dense features are stacked as they are, next to the embeddings (the paper stacks its low-dimensional
features, those under 256 dimensions, without embedding them).

Differences from the paper:

* The embedding is a table lookup. The paper's embedding layer is ``max(0, W x + b)``, a fully
  connected layer with ReLU; on a one-hot ``x`` the ReLU would silence every negative entry of an
  id's vector for good (its gradient is zero and no other id can revive it), so it is left out.
* Sequence fields are mean-pooled (``FeatureEmbedding``); the paper's inputs are single features.
* One logit trained with binary cross-entropy, as the paper's sigmoid scoring layer and log loss.
* The paper trains on multiple GPUs with CNTK; depth and widths here are recnotes choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import FeatureEmbedding
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["DeepCrossingConfig", "DeepCrossing", "ResidualUnit"]


@dataclass(frozen=True)
class DeepCrossingConfig:
    """Hyper-parameters of :class:`DeepCrossing`.

    Example:
        >>> DeepCrossingConfig(hidden=[64, 64]).hidden
        (64, 64)
        >>> DeepCrossingConfig(hidden=())
        Traceback (most recent call last):
        ...
        ValueError: DeepCrossing needs at least one residual unit (hidden is the inner width of each), got ()
    """

    embed_dim: int = 10  # recnotes choice (BARS's Frappe setting); the paper sizes each feature
    # the inner width of each residual unit, one unit per entry (recnotes choice)
    hidden: tuple[int, ...] = (400, 400, 400)
    dropout: float = 0.0  # the paper reports none
    init_std: float = 0.01  # standard deviation of the embedding initialisation (recnotes default)
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # JSON configs (checkpoints, --set) hold lists
            object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if not self.hidden:
            raise ValueError(
                "DeepCrossing needs at least one residual unit (hidden is the inner width of "
                f"each), got {self.hidden}"
            )
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"every hidden width must be at least 1, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


# --8<-- [start:residual]
class ResidualUnit(nn.Module):
    """Eq. (3): ``x -> ReLU(x + W_1 ReLU(W_0 x + b_0) + b_1)``; the input and output widths agree.

    Example:
        >>> unit = ResidualUnit(dim=6, hidden=4)
        >>> unit(torch.randn(3, 6)).shape
        torch.Size([3, 6])
    """

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.inner = nn.Linear(dim, hidden)  # W_0, b_0
        self.outer = nn.Linear(hidden, dim)  # W_1, b_1
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.outer(self.dropout(torch.relu(self.inner(x))))  # (B, H) -> (B, N)
        return torch.relu(x + residual)  # the unit fits the residual, output minus input


# --8<-- [end:residual]


class DeepCrossing(nn.Module):
    """The Deep Crossing click model: embedding and stacking, residual units, a scoring layer.

    Every non-label feature of the schema is an input, in schema order: sparse and sequence features
    are embedded (sequences mean-pooled), dense features are stacked as they are.

    Args:
        schema: the features; needs at least one sparse or sequence feature.
        config: hyper-parameters (:class:`DeepCrossingConfig`).

    Shapes:
        * ``stack(batch)``: ``(B, N)`` with ``N = F * D + P`` (Eq. 2).
        * ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_deep_crossing()
        >>> model(batch).shape, model.input_dim == 3 * 4 + 2, len(model.units)
        (torch.Size([6]), True, 2)
    """

    def __init__(self, schema: Schema, config: DeepCrossingConfig = DeepCrossingConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        if not self.fields:
            raise ValueError("DeepCrossing needs at least one sparse or sequence feature to embed")
        self._inputs = schema.select(self.fields + self.dense)  # what check_inputs validates
        self.embedding = FeatureEmbedding(
            schema, config.embed_dim, self.fields, init_std=config.init_std
        )
        dense_width = sum(schema[name].dim for name in self.dense)
        self.input_dim = len(self.fields) * config.embed_dim + dense_width
        self.units = nn.Sequential(
            *(ResidualUnit(self.input_dim, h, config.dropout) for h in config.hidden)
        )
        self.scoring = nn.Linear(self.input_dim, 1)

    # --8<-- [start:stack]
    def stack(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eqs. (1)-(2): the embeddings and the dense features, stacked: ``(B, F * D + P)``."""
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        e = self.embedding(batch).flatten(1)  # Eq. (1): (B, F, D) -> (B, F * D)
        dense = [batch[n].to(e.dtype) for n in self.dense]
        blocks = [e] + [x.unsqueeze(-1) if x.dim() == 1 else x for x in dense]
        return torch.cat(blocks, dim=-1)  # Eq. (2): (B, N)

    # --8<-- [end:stack]

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = self.stack(batch)  # (B, N)
        x = self.units(x)  # Eq. (3), once per unit: (B, N) -> (B, N)
        return self.scoring(x).squeeze(-1)  # Eq. (4): (B, 1) -> (B,) logits

    # --8<-- [end:forward]


def tiny_deep_crossing() -> tuple[DeepCrossing, dict[str, torch.Tensor]]:
    """A tiny model and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    config = DeepCrossingConfig(embed_dim=4, hidden=(8, 5), init_std=0.1)
    return DeepCrossing(schema, config), batch


SPEC = register(
    ModelSpec(
        name="deep-crossing",
        display_name="DeepCrossing",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Deep Crossing: Web-Scale Modeling without Manually Crafted Combinatorial Features",
            authors="Shan et al.",
            venue="KDD",
            year=2016,
            url="https://doi.org/10.1145/2939672.2939704",
        ),
        cls=DeepCrossing,
        config_cls=DeepCrossingConfig,
        tiny=tiny_deep_crossing,
        summary="Embed and stack every feature, then a cascade of residual units and a logistic score.",
        status="implemented",
        note="ranking/deep_crossing.md",
    )
)
